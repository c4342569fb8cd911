"""The offline dictionary tools: K-SVD recovers a planted dictionary; learn_dictionary is reproducible; neither is
imported by the runtime package."""

import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from semfuse.tools import learn_dictionary
from semfuse.tools.ksvd import ksvd


def test_ksvd_recovers_a_planted_dictionary(sparse_synthesis):
    planted = sparse_synthesis.unit_columns(16, 24, seed=7)
    signals, _ = sparse_synthesis.sparse_signals(planted, 1200, 3, seed=8)
    signals = signals + 0.01 * torch.from_numpy(np.random.default_rng(9).normal(size=signals.shape))
    initial = signals[torch.from_numpy(np.random.default_rng(10).choice(1200, 24, replace=False))].T
    result = ksvd(signals, initial, sparsity=3, iterations=25)
    cosines = (result.dictionary.T @ planted).abs().max(dim=0).values  # best match of each planted atom
    assert (cosines > 0.95).float().mean() >= 0.8
    assert result.rmse[-1] < result.rmse[0]
    torch.testing.assert_close(result.dictionary.norm(dim=0), torch.ones(24, dtype=torch.float64))


def _write_pairs(folder, names, seed):
    rng = np.random.default_rng(seed)
    for sub in ("ir", "vi"):
        (folder / sub).mkdir(parents=True)
    for name in names:
        Image.fromarray(rng.integers(0, 256, size=(30, 41), dtype=np.uint8)).save(folder / "ir" / name)
        Image.fromarray(rng.integers(0, 256, size=(30, 41, 3), dtype=np.uint8)).save(folder / "vi" / name)


def test_learn_dictionary_end_to_end_is_reproducible(tmp_path):
    root = tmp_path / "data"
    _write_pairs(root / "roadscene", ["FLIR_1.png", "FLIR_2.png", "FLIR_3.png"], seed=0)
    _write_pairs(root / "msrs_unlabeled" / "test", ["00001N.png"], seed=1)
    (root / "roadscene" / "cddfuse50_subset.txt").write_text("FLIR_2.png\n")
    outputs = []
    for run in ("a", "b"):
        output = tmp_path / run / "dictionary.npy"
        learn_dictionary.main([
            "--data-root", str(root), "--output", str(output), "--patches", "400", "--atoms", "64",
            "--sparsity", "4", "--iterations", "2", "--threads", str(torch.get_num_threads()),
        ])
        outputs.append(output)
    first, second = (np.load(output) for output in outputs)
    assert first.shape == (64, 64) and np.array_equal(first, second)
    card = outputs[0].with_suffix(".md").read_text()
    assert "2 pairs, i.e." in card and "MSRS (`msrs_unlabeled/test/ir`, `.../vi`): 1 pairs" in card
    assert "--patches 400" in card


def test_the_runtime_package_does_not_import_the_tools():
    code = ("import sys, semfuse.methods, semfuse.cli, semfuse.inference; "
            "print(sorted(name for name in sys.modules if name.startswith('semfuse.tools')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
