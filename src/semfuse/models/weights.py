"""Fusion-network weight files: ``.safetensors`` with the network config stored inside as metadata.

Loading reads tensors and a JSON string only; nothing is unpickled.
"""

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write
from semfuse.models.fusion_net import FusionNet, FusionNetConfig, build_fusion_net

CONFIG_KEY = "semfuse_fusion_net"
BUNDLED_WEIGHTS = {"warm-start": "warm_start_avg.safetensors"}  # name -> file in semfuse/weights
DEFAULT_WEIGHTS = "warm-start"


def resolve_weights(weights: str | Path | None) -> Path:
    """A bundled weights name (see :data:`BUNDLED_WEIGHTS`), a file path, or None for the default bundled weights."""
    name = DEFAULT_WEIGHTS if weights is None else str(weights)
    if name in BUNDLED_WEIGHTS:
        path = Path(str(resources.files("semfuse") / "weights" / BUNDLED_WEIGHTS[name]))
        if not path.is_file():
            raise SemfuseError(f"the bundled weights {name!r} are missing from the installation ({path}); reinstall")
        return path
    path = Path(name)
    if not path.is_file():
        raise SemfuseError(
            f"weights {name!r} is neither a file nor a bundled name ({', '.join(BUNDLED_WEIGHTS)}); check the path"
        )
    return path


def save_fusion_net(net: FusionNet, config: FusionNetConfig, path: str | Path, info: dict | None = None) -> Path:
    """Write the network's weights and config (plus optional ``info``, stored as strings) atomically to ``path``."""
    return save_module(net, path, {CONFIG_KEY: json.dumps(config.to_dict()), **(info or {})})


def save_module(module: torch.nn.Module, path: str | Path, info: dict | None = None) -> Path:
    """Write any module's state dict as ``.safetensors`` with string metadata ``info``, atomically."""
    metadata = {key: str(value) for key, value in (info or {}).items()}
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()}
    return atomic_write(Path(path), lambda temporary: save_file(tensors, str(temporary), metadata=metadata), True)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a weights file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError) as error:
        raise SemfuseError(f"{path} is not a readable .safetensors weights file ({error})") from None


def load_fusion_net(weights: str | Path | None = None, device: str | torch.device = "cpu") -> FusionNet:
    """Build the network described in a weights file and load its weights, in eval mode on ``device``."""
    path = resolve_weights(weights)
    metadata = read_metadata(path)
    if CONFIG_KEY not in metadata:
        raise SemfuseError(f"{path} has no semfuse network config; was it written by semfuse (save_fusion_net)?")
    config = FusionNetConfig(**json.loads(metadata[CONFIG_KEY]))
    net = build_fusion_net(config)
    try:
        net.load_state_dict(load_file(str(path)))
    except RuntimeError as error:
        raise SemfuseError(f"{path} does not match its stored network config: {str(error).splitlines()[0]}") from None
    return net.to(device).eval()
