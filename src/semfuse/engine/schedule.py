"""Learning-rate schedule: linear warm-up, then polynomial decay to zero (mmsegmentation's ``poly``)."""


def poly_with_warmup(iteration: int, total: int, warmup: int, power: float = 1.0) -> float:
    """Multiplier of the peak learning rate at ``iteration`` (0-based) of ``total``.

    ``(iteration + 1) / warmup`` during the first ``warmup`` iterations, then ``(1 - iteration / total) ** power``,
    whichever is smaller.

    Example:
        >>> poly_with_warmup(0, 100, 10), poly_with_warmup(50, 100, 10)
        (0.1, 0.5)
    """
    decay = max(1.0 - iteration / max(total, 1), 0.0) ** power
    if warmup > 0 and iteration < warmup:
        return min((iteration + 1) / warmup, decay) if decay > 0 else 0.0
    return decay
