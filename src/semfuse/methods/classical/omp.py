"""Orthogonal matching pursuit (Pati, Rezaiifar & Krishnaprasad 1993), batched over many signals.

For each signal x, OMP greedily picks the atom most correlated with the residual, then re-fits x on all atoms
picked so far by least squares, and repeats until the residual norm is at most ``tolerance`` or ``max_atoms``
atoms are in use (the error-constrained and the sparsity-constrained forms are the same loop).

The least-squares fit is kept as an orthonormal basis Q of the chosen atoms (classical Gram-Schmidt applied twice,
"CGS2", which keeps Q orthogonal to working precision) and the triangular factor R of ``D_S = Q^T R``: the residual
is ``x - Q^T Q x`` and the coefficients solve ``R a = Q x``. An atom already in the span of the chosen ones (norm
after orthogonalisation below 1e-10) ends that signal's pursuit. Signals are processed in chunks to bound memory.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from semfuse.errors import InputError

_INDEPENDENCE = 1e-10


@dataclass(frozen=True)
class SparseCodes:
    """OMP result for N signals of length n with at most k atoms each.

    Attributes:
        indices: (N, k) long, the chosen atoms in order of choice; -1 in unused slots.
        coefficients: (N, k) coefficients of those atoms; 0 in unused slots.
        residual: (N, n) ``signals - dictionary @ codes``.
    """

    indices: Tensor
    coefficients: Tensor
    residual: Tensor

    def l1_norms(self) -> Tensor:
        """(N,) the L1 norm of each signal's coefficient vector."""
        return self.coefficients.abs().sum(dim=1)

    def dense(self, atoms: int) -> Tensor:
        """(N, atoms) coefficient matrix, zeros off the support."""
        dense = self.coefficients.new_zeros(self.coefficients.shape[0], atoms)
        used = self.indices >= 0
        rows = torch.arange(self.indices.shape[0], device=self.indices.device).unsqueeze(1).expand_as(self.indices)
        dense[rows[used], self.indices[used]] = self.coefficients[used]
        return dense


def _coefficients(basis: Tensor, triangle: Tensor, indices: Tensor, signals: Tensor) -> Tensor:
    """Solve ``R a = Q x`` for every signal; (N, k). Unused slots have a zero row in Q and get a unit diagonal."""
    unused = indices < 0
    triangle = triangle.clone()
    torch.diagonal(triangle, dim1=1, dim2=2)[unused] = 1.0
    projections = torch.bmm(signals.unsqueeze(1), basis).transpose(1, 2)  # (N, k, 1) = Q x
    coefficients = torch.linalg.solve_triangular(triangle, projections, upper=True).squeeze(2)
    return coefficients.masked_fill(unused, 0.0)


def _pursue(signals: Tensor, dictionary: Tensor, max_atoms: int, tolerance: float) -> SparseCodes:
    """OMP of one chunk. Finished signals stay in the working set (frozen) until they are a quarter of it."""
    count, length = signals.shape
    atoms_t = dictionary.T.contiguous()  # (K, n)
    indices = torch.full((count, max_atoms), -1, dtype=torch.long, device=signals.device)
    coefficients = signals.new_zeros(count, max_atoms)
    residual_out = signals.clone()
    rows = torch.arange(count, device=signals.device)  # working row -> signal
    work_signals = signals
    residual = signals.clone()
    basis = signals.new_zeros(count, length, max_atoms)  # Q^T: column s is the s-th orthonormal direction
    triangle = signals.new_zeros(count, max_atoms, max_atoms)  # R, upper triangular
    work_indices = indices.clone()
    chosen = torch.zeros(count, dictionary.shape[1], dtype=torch.bool, device=signals.device)
    active = residual.norm(dim=1) > tolerance

    def flush(done: Tensor) -> None:
        targets = rows[done]
        indices[targets] = work_indices[done]
        coefficients[targets] = _coefficients(basis[done], triangle[done], work_indices[done], work_signals[done])
        residual_out[targets] = residual[done]

    for step in range(max_atoms):
        if not active.any():
            break
        if active.float().mean() < 0.75:
            flush(~active)
            keep = active.nonzero().squeeze(1)
            rows, work_signals, residual, basis, triangle, work_indices, chosen, active = (
                t[keep] for t in (rows, work_signals, residual, basis, triangle, work_indices, chosen, active)
            )
        correlation = (residual @ dictionary).abs().masked_fill(chosen, -1.0)  # (Nw, K)
        atom = correlation.argmax(dim=1)
        vector = atoms_t[atom].unsqueeze(1)  # (Nw, 1, n)
        previous = basis[:, :, :step]  # (Nw, n, step), a strided view
        projection = torch.bmm(vector, previous)  # (Nw, 1, step)
        vector = vector - torch.bmm(projection, previous.transpose(1, 2))
        correction = torch.bmm(vector, previous)
        vector = (vector - torch.bmm(correction, previous.transpose(1, 2))).squeeze(1)  # (Nw, n)
        norm = vector.norm(dim=1)
        live = active & (norm > _INDEPENDENCE)
        direction = torch.where(live.unsqueeze(1), vector / norm.clamp_min(_INDEPENDENCE).unsqueeze(1), 0.0)
        basis[:, :, step] = direction
        triangle[:, :step, step] = torch.where(live.unsqueeze(1), (projection + correction).squeeze(1), 0.0)
        triangle[:, step, step] = torch.where(live, norm, 0.0)
        work_indices[:, step] = torch.where(live, atom, -1)
        chosen[live, atom[live]] = True
        residual = residual - (residual * direction).sum(dim=1, keepdim=True) * direction
        active = live & (residual.norm(dim=1) > tolerance)
    flush(torch.ones_like(active))
    return SparseCodes(indices, coefficients, residual_out)


def orthogonal_matching_pursuit(
    signals: Tensor, dictionary: Tensor, max_atoms: int, tolerance: float = 0.0, chunk_size: int = 4096
) -> SparseCodes:
    """Sparse-code each row of ``signals`` over the columns of ``dictionary`` by OMP.

    Args:
        signals: (N, n) float tensor, one signal per row.
        dictionary: (n, K) float tensor with unit-norm columns (atoms).
        max_atoms: largest number of atoms per signal (k), 1 <= k <= n.
        tolerance: stop a signal once ``||residual||_2 <= tolerance`` (0: always use ``max_atoms``).
        chunk_size: signals coded at once (memory is about chunk_size * k * (n + k) floats).

    Returns:
        :class:`SparseCodes` with indices (N, k), coefficients (N, k) and residual (N, n).

    Example:
        >>> codes = orthogonal_matching_pursuit(torch.tensor([[3.0, 4.0]]), torch.eye(2), max_atoms=2)
        >>> codes.indices.tolist(), codes.coefficients.tolist()
        ([[1, 0]], [[4.0, 3.0]])
    """
    if signals.dim() != 2 or dictionary.dim() != 2 or signals.shape[1] != dictionary.shape[0]:
        raise InputError(
            f"orthogonal_matching_pursuit needs signals (N, n) and dictionary (n, K), got {tuple(signals.shape)} "
            f"and {tuple(dictionary.shape)}"
        )
    if not 1 <= max_atoms <= signals.shape[1]:
        raise InputError(f"orthogonal_matching_pursuit needs 1 <= max_atoms <= {signals.shape[1]}, got {max_atoms}")
    dictionary = dictionary.to(signals.dtype)
    parts = [
        _pursue(signals[start : start + chunk_size], dictionary, max_atoms, tolerance)
        for start in range(0, signals.shape[0], chunk_size)
    ]
    if not parts:
        empty = signals.new_zeros(0, max_atoms)
        return SparseCodes(empty.long(), empty, signals.clone())
    return SparseCodes(
        torch.cat([part.indices for part in parts]),
        torch.cat([part.coefficients for part in parts]),
        torch.cat([part.residual for part in parts]),
    )
