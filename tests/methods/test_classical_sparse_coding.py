"""OMP, the shipped MST-SR dictionary and its card, and the max-L1 low-pass rule (K-SVD: tests/tools/)."""

import hashlib

import numpy as np
import pytest
import torch

from semfuse.methods.classical.dictionary import (
    default_dictionary_path,
    load_dictionary,
)
from semfuse.methods.classical.omp import orthogonal_matching_pursuit
from semfuse.methods.classical.sparse import sparse_fuse_lowpass


def test_omp_on_an_orthonormal_basis_takes_the_largest_projections():
    basis = torch.linalg.qr(torch.from_numpy(np.random.default_rng(0).normal(size=(6, 6))))[0]
    signal = basis @ torch.tensor([0.0, 3.0, 0.0, -5.0, 1.0, 0.0], dtype=torch.float64)
    codes = orthogonal_matching_pursuit(signal[None], basis, max_atoms=2)
    assert codes.indices.tolist() == [[3, 1]]
    torch.testing.assert_close(codes.coefficients, torch.tensor([[-5.0, 3.0]], dtype=torch.float64))
    torch.testing.assert_close(codes.residual.norm(), torch.tensor(1.0, dtype=torch.float64))


def test_omp_recovers_planted_sparse_codes_and_fits_least_squares(sparse_synthesis):
    dictionary = sparse_synthesis.unit_columns(64, 128, seed=1)
    signals, codes = sparse_synthesis.sparse_signals(dictionary, 200, 3, seed=2)
    found = orthogonal_matching_pursuit(signals, dictionary, max_atoms=3)
    recovered = (found.dense(128) - codes).abs().max(dim=1).values < 1e-9
    assert recovered.float().mean() >= 0.95
    for row in range(5):
        support = found.indices[row]
        least_squares = torch.linalg.lstsq(dictionary[:, support], signals[row]).solution
        torch.testing.assert_close(found.coefficients[row], least_squares, rtol=0, atol=1e-10)
    torch.testing.assert_close(found.residual, signals - found.dense(128) @ dictionary.T, rtol=0, atol=1e-12)


def test_omp_stops_at_the_first_atom_count_within_tolerance(sparse_synthesis):
    dictionary = sparse_synthesis.unit_columns(16, 40, seed=3)
    signals = torch.from_numpy(np.random.default_rng(4).normal(size=(30, 16)))
    signals[0] = 0.0
    tolerance = 0.5
    found = orthogonal_matching_pursuit(signals, dictionary, max_atoms=16, tolerance=tolerance)
    assert (found.residual.norm(dim=1) <= tolerance).all()
    assert (found.indices[0] == -1).all()  # a zero signal needs no atom
    for row in range(1, 30):
        support = found.indices[row][found.indices[row] >= 0]
        shorter = support[:-1]
        fit = dictionary[:, shorter] @ torch.linalg.lstsq(dictionary[:, shorter], signals[row]).solution
        assert (signals[row] - fit).norm() > tolerance  # one atom fewer would not have been enough


def test_omp_does_not_depend_on_chunking_and_checks_shapes(sparse_synthesis):
    dictionary = sparse_synthesis.unit_columns(16, 32, seed=5)
    signals = torch.from_numpy(np.random.default_rng(6).normal(size=(50, 16)))
    whole = orthogonal_matching_pursuit(signals, dictionary, 5)
    chunked = orthogonal_matching_pursuit(signals, dictionary, 5, chunk_size=7)
    assert torch.equal(whole.indices, chunked.indices)
    torch.testing.assert_close(whole.coefficients, chunked.coefficients, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(50, 16\)"):
        orthogonal_matching_pursuit(signals, dictionary[:8], 5)


def test_shipped_dictionary_is_small_unit_norm_zero_mean_and_carded():
    path = default_dictionary_path()
    raw = np.load(path)
    assert raw.shape == (64, 256) and raw.dtype == np.float32
    assert path.stat().st_size < 300_000
    np.testing.assert_allclose(np.linalg.norm(raw, axis=0), 1.0, atol=1e-5)
    assert np.abs(raw.mean(axis=0)).max() < 1e-5  # learned from mean-removed patches
    atoms = load_dictionary()
    coherence = (atoms.T @ atoms - torch.eye(256, dtype=torch.float64)).abs().max()
    assert coherence <= 0.99
    card = path.with_suffix(".md").read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in card
    assert "python -m semfuse.tools.learn_dictionary" in card and "TNO" in card


def test_lowpass_rule_keeps_the_more_active_window():
    y, x = np.mgrid[0:20, 0:24]
    texture = torch.from_numpy(0.5 + 0.1 * np.sin(x / 2.0) * np.cos(y / 3.0))[None, None]
    stronger = 0.5 + 2.0 * (texture - 0.5)
    flat = torch.full_like(texture, 0.25)
    atoms = load_dictionary()
    tolerance = 0.1 / 255
    # every window of the stronger texture has the larger L1 norm, so the result rebuilds it (within tolerance)
    assert (sparse_fuse_lowpass(texture, stronger, atoms, 1, tolerance) - stronger).abs().max() <= tolerance
    assert (sparse_fuse_lowpass(flat, texture, atoms, 2, tolerance) - texture).abs().max() <= tolerance
    # two flat bands code to nothing: equal L1 norms, so the windows (their means) are averaged
    torch.testing.assert_close(sparse_fuse_lowpass(flat, flat + 0.5, atoms), flat + 0.25)
    # bands smaller than a window are averaged
    small = torch.rand(1, 1, 7, 30, dtype=torch.float64)
    torch.testing.assert_close(sparse_fuse_lowpass(small, 1 - small, atoms), torch.full_like(small, 0.5))
