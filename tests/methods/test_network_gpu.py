"""The network's GPU settings (issue 22): on CUDA the network fuses as the CPU reference does, within stated
tolerances, whole-image and batched; cuDNN autotuning is scoped. The CUDA tests skip on machines without CUDA."""

import numpy as np
import pytest
import torch

from semfuse.data.pairs import Pair, load_pair
from semfuse.methods import get_method
from semfuse.methods.network import cudnn_autotuning

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _msrs_pair(samples) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled MSRS pair 00004N as (1, 1, 480, 640) infrared and visible luminance."""
    loaded = load_pair(Pair("msrs", samples / "ir" / "msrs_00004N.png", samples / "vi" / "msrs_00004N.png"))
    vis_y = loaded["vis"] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # BT.601 Y
    return torch.from_numpy(loaded["ir"])[None, None], torch.from_numpy(vis_y)[None, None]


def test_cudnn_autotuning_is_restored_after_the_block():
    before = torch.backends.cudnn.benchmark
    with cudnn_autotuning(not before):
        assert torch.backends.cudnn.benchmark is (not before)
    assert torch.backends.cudnn.benchmark is before


# Tolerances, in grey levels of 255 on the fused luminance: fp32 on CUDA runs its convolutions in TF32 (PyTorch's
# default; 10-bit mantissa), bf16 autocast keeps 8 bits of mantissa (benchmarks/README.md measured up to about 2).
@cuda
@pytest.mark.parametrize("precision, max_levels, mean_levels", [("fp32", 1.0, 0.05), ("bf16", 4.0, 0.5)])
def test_cuda_matches_the_cpu_reference(samples, precision, max_levels, mean_levels):
    ir, vis = _msrs_pair(samples)
    reference = get_method("semfuse", device="cpu")(ir, vis)
    on_gpu = get_method("semfuse", device="cuda", precision=precision)
    for _ in range(2):  # the second call runs on cuDNN's autotuned algorithms
        difference = (on_gpu(ir, vis) - reference).abs() * 255
        assert difference.max().item() <= max_levels and difference.mean().item() <= mean_levels


@cuda
def test_cuda_batch_matches_single_pairs(samples):
    ir, vis = _msrs_pair(samples)
    irs, viss = torch.cat([ir, ir.flip(-1), vis]), torch.cat([vis, vis.flip(-1), ir])  # (3, 1, 480, 640)
    fuse = get_method("semfuse", device="cuda")
    single = torch.cat([fuse(irs[i:i + 1], viss[i:i + 1]) for i in range(3)])
    assert ((fuse(irs, viss) - single).abs() * 255).max().item() <= 0.5
