"""The fusion network as an ONNX graph, and the check that onnxruntime computes what PyTorch computes.

The graph takes ``ir`` and ``vis``, two (B, 1, H, W) float32 luminance tensors in [0, 1], and gives ``fused``
(B, 1, H, W) in [0, 1]; batch, height and width are dynamic (any size, odd sizes included, as in PyTorch). It is
written by the TorchScript-based ``torch.onnx.export`` (``dynamo=False``), which needs only the ``onnx`` package;
checking it needs ``onnxruntime`` (``pip install 'semfuse[onnx]'``).
"""

import copy
import logging
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write, refuse_existing

logger = logging.getLogger("semfuse.export")

OPSET = 17
INPUT_NAMES = ("ir", "vis")
OUTPUT_NAME = "fused"
TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| accepted on the bundled samples


def bundled_sample_pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every bundled sample pair (``semfuse/samples``) as (ir, vis luminance), (1, 1, H, W) float32 tensors."""
    from semfuse.data.colour import luminance
    from semfuse.data.io import read_image

    samples = Path(str(resources.files("semfuse") / "samples"))
    pairs = {}
    for ir_path in sorted((samples / "ir").iterdir()):
        ir = torch.from_numpy(read_image(ir_path))[None, None]
        vis = torch.from_numpy(read_image(samples / "vi" / ir_path.name))
        vis = vis[None, None] if vis.dim() == 2 else luminance(vis.permute(2, 0, 1)[None])
        pairs[ir_path.stem] = (ir.contiguous(), vis.contiguous())
    return pairs


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise SemfuseError(f"the {module} package is missing; install it with: pip install 'semfuse[onnx]'") from None


def export_onnx(net: torch.nn.Module, path: str | Path, opset: int = OPSET, overwrite: bool = False) -> Path:
    """Write ``net`` (a fusion network: ``net(ir, vis) -> fused``) as ONNX with dynamic batch, height and width.

    Args:
        net: the network; exported in eval mode on the CPU in float32 (the caller's copy is not changed).
        path: the ``.onnx`` file to write (atomically).
        opset: the ONNX operator set.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        SemfuseError: if ``path`` exists and ``overwrite`` is False, or the ``onnx`` package is missing.
    """
    path = Path(path)
    refuse_existing([path], overwrite)
    _require("onnx")
    model = copy.deepcopy(net).float().cpu().eval()
    use_channels_last = getattr(model, "use_channels_last", None)
    if use_channels_last is not None:
        use_channels_last(False)  # the reference path: plain operators that ONNX knows (the result is the same)
    example = (torch.rand(1, 1, 64, 80), torch.rand(1, 1, 64, 80))
    axes = {0: "batch", 2: "height", 3: "width"}

    def write(temporary: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(
                model, example, str(temporary), input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                dynamic_axes={name: axes for name in (*INPUT_NAMES, OUTPUT_NAME)}, opset_version=opset, dynamo=False,
            )

    return atomic_write(path, write, overwrite)


def onnx_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for the graph at ``path`` (``threads``: intra-op threads, None = its default).

    Raises:
        SemfuseError: if onnxruntime is missing or the file is not a readable ONNX graph.
    """
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise SemfuseError(f"onnxruntime cannot load {path}: {str(error).splitlines()[0]}") from None


def check_onnx(path: str | Path, net: torch.nn.Module,
               pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> dict[str, float]:
    """Run the graph at ``path`` with onnxruntime and ``net`` with PyTorch on each pair; the largest absolute
    difference of the fused images per pair.

    Args:
        path: an ONNX file written by :func:`export_onnx`.
        net: the PyTorch network it was exported from.
        pairs: name -> (ir, vis) (1, 1, H, W) float32 tensors; default: the bundled samples.

    Returns:
        name -> max |fused_onnxruntime - fused_pytorch|.

    Raises:
        SemfuseError: if onnxruntime is missing or cannot load the file.
    """
    session = onnx_session(path)
    model = net.float().cpu().eval()
    differences = {}
    for name, (ir, vis) in (pairs or bundled_sample_pairs()).items():
        (fused,) = session.run([OUTPUT_NAME], {"ir": ir.numpy(), "vis": vis.numpy()})
        with torch.inference_mode():
            reference = model(ir, vis).numpy()
        differences[name] = float(np.abs(fused - reference).max())
    return differences
