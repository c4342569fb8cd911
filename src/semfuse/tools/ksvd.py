"""K-SVD dictionary learning (Aharon, Elad & Bruckstein, IEEE Trans. Signal Processing 54(11), 2006).

Each iteration alternates:

1. Sparse coding: every signal is coded with exactly ``sparsity`` atoms by OMP (:mod:`semfuse.methods.classical.omp`).
2. Dictionary update, atom by atom: with E_k the residual of the signals that use atom k, computed without atom k,
   the atom and its coefficients become the best rank-1 approximation of E_k (top eigenvector d of E_k^T E_k,
   coefficients E_k d), so the support of the codes is kept. The sign is fixed so that the atom's largest
   entry is positive, which makes the result deterministic.
3. Clean-up, as recommended by the K-SVD authors: an atom used by fewer than ``min_usage`` signals, or nearly equal
   to another atom (|cosine| > ``max_coherence``), is replaced by the worst-represented signal, normalised.

The learned atoms are linear combinations of the signals and of residuals, so mean-removed training patches give
zero-mean atoms.
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor

from semfuse import logger
from semfuse.errors import InputError
from semfuse.methods.classical.omp import orthogonal_matching_pursuit


@dataclass
class KsvdResult:
    """Learned dictionary (n, K) and, per iteration, the RMSE of the codes and the number of atoms replaced."""

    dictionary: Tensor
    rmse: list[float] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)


def _update_atoms(dictionary: Tensor, residual: Tensor, indices: Tensor, coefficients: Tensor) -> Tensor:
    """Rank-1 update of every atom in place; returns the usage count of each atom (K,)."""
    sparsity = indices.shape[1]
    flat_atoms = indices.reshape(-1)
    flat_coefficients = coefficients.reshape(-1)
    order = torch.argsort(flat_atoms, stable=True)
    used = flat_atoms >= 0
    usage = torch.bincount(flat_atoms[used], minlength=dictionary.shape[1])
    start = int((~used).sum())  # the -1 slots sort first
    for atom, count in enumerate(usage.tolist()):
        positions = order[start : start + count]
        start += count
        if count == 0:
            continue
        signals = positions // sparsity
        error = residual[signals] + flat_coefficients[positions].unsqueeze(1) * dictionary[:, atom]  # (count, n)
        _, vectors = torch.linalg.eigh(error.T @ error)
        direction = vectors[:, -1]
        if direction[direction.abs().argmax()] < 0:
            direction = -direction
        weights = error @ direction  # (count,)
        dictionary[:, atom] = direction
        flat_coefficients[positions] = weights
        residual[signals] = error - weights.unsqueeze(1) * direction
    return usage


def _replace_atoms(dictionary: Tensor, residual: Tensor, usage: Tensor, min_usage: int, max_coherence: float) -> int:
    """Replace rarely used and duplicate atoms by the worst-represented signals; returns how many were replaced."""
    errors = residual.norm(dim=1)
    replaced = 0
    for atom in range(dictionary.shape[1]):
        others = torch.cat([dictionary[:, :atom], dictionary[:, atom + 1 :]], dim=1)
        duplicate = bool((others.T @ dictionary[:, atom]).abs().max() > max_coherence)
        if usage[atom] >= min_usage and not duplicate:
            continue
        worst = int(errors.argmax())
        if errors[worst] == 0:
            break
        dictionary[:, atom] = residual[worst] / errors[worst]
        errors[worst] = 0.0
        replaced += 1
    return replaced


def ksvd(
    signals: Tensor,
    initial: Tensor,
    sparsity: int,
    iterations: int,
    min_usage: int = 4,
    max_coherence: float = 0.99,
) -> KsvdResult:
    """Learn a dictionary for ``signals`` by K-SVD.

    Args:
        signals: (N, n) training signals, one per row (float64 advised).
        initial: (n, K) initial dictionary; columns are normalised first.
        sparsity: atoms per signal in the coding step (T).
        iterations: number of coding + update rounds.
        min_usage: atoms used by fewer signals are replaced after each round.
        max_coherence: atoms whose |cosine| with another atom exceeds this are replaced.

    Returns:
        :class:`KsvdResult` with the (n, K) dictionary (unit-norm columns) and the per-round RMSE
        ``sqrt(mean((signals - D codes)^2))`` measured after the update and before replacement.
    """
    if signals.dim() != 2 or initial.dim() != 2 or signals.shape[1] != initial.shape[0]:
        raise InputError(
            f"ksvd needs signals (N, n) and initial (n, K), got {tuple(signals.shape)} and {tuple(initial.shape)}"
        )
    dictionary = (initial / initial.norm(dim=0)).to(signals.dtype).clone()
    result = KsvdResult(dictionary)
    for iteration in range(iterations):
        codes = orthogonal_matching_pursuit(signals, dictionary, max_atoms=sparsity)
        residual = codes.residual.clone()
        usage = _update_atoms(dictionary, residual, codes.indices, codes.coefficients.clone())
        result.rmse.append(float(residual.pow(2).mean().sqrt()))
        result.replaced.append(_replace_atoms(dictionary, residual, usage, min_usage, max_coherence))
        logger.info(
            "K-SVD round %d/%d: RMSE %.6f, %d atoms replaced", iteration + 1, iterations, result.rmse[-1],
            result.replaced[-1],
        )
    return result
