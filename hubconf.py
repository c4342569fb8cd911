"""torch.hub entry points: the semfuse fusion network with bundled (or given) weights.

    import torch
    net = torch.hub.load("path/to/semfuse", "semfuse", source="local")  # FusionNet, eval mode, on the CPU
    fused = net(ir, vis)  # (B, 1, H, W) infrared and visible luminance in [0, 1] -> (B, 1, H, W)

Works from a plain checkout: when semfuse is not installed, the checkout's ``src/`` is put on ``sys.path``. For
colour images, batches and other input types, use the Python API instead (``semfuse.load``, README "Python").
"""

import importlib.util
import sys
from pathlib import Path

dependencies = ["torch", "numpy", "safetensors", "tqdm"]  # what loading the network imports

if importlib.util.find_spec("semfuse") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))


def semfuse(weights: str = "warm-start", device: str = "cpu", pretrained: bool = True):
    """The semfuse fusion network (``FusionNet``) in eval mode, taking infrared and visible luminance
    (B, 1, H, W) in [0, 1] and returning the fused luminance (B, 1, H, W).

    Args:
        weights: a bundled name (``warm-start``, ``warm-start-max``, ``semantic-msrs-boxes``) or a ``.safetensors``
            file written by ``semfuse train``.
        device: where the network is put (``cpu``, ``cuda``, ``cuda:N`` or ``auto``).
        pretrained: must be True: the network's architecture is stored with its weights, so there is no
            untrained variant to build without them.
    """
    from semfuse.device import resolve_device
    from semfuse.errors import InputError
    from semfuse.models.weights import load_fusion_net

    if not pretrained:
        raise InputError("the semfuse network is described by its weights file; load it with pretrained=True")
    return load_fusion_net(weights, resolve_device(device))
