"""Network weight files: ``.safetensors`` with the network's config stored inside as metadata.

One pair of functions serves every network semfuse trains: :func:`save_network` writes the state dict with the
config as JSON under ``semfuse_<kind>`` (``semfuse_fusion_net``, ``semfuse_densefuse``) plus any string ``info``;
:func:`load_network` builds the network of that kind from the stored config and loads the tensors. Loading reads
tensors and a JSON string only; nothing is unpickled.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from semfuse.errors import SemfuseError
from semfuse.files import atomic_write
from semfuse.models.densefuse import DenseFuse, DenseFuseConfig
from semfuse.models.fusion_net import FusionNet, FusionNetConfig, build_fusion_net
from semfuse.names import BUNDLED_WEIGHTS


@dataclass(frozen=True)
class NetworkKind:
    """How to rebuild one kind of network from its stored config."""

    config_class: type  # a dataclass with ``to_dict()``; built from the stored JSON by keyword
    build: Callable[[Any], nn.Module]  # config -> network with freshly initialised weights
    default_weights: str  # the bundled weights used when none are given
    trained_by: str  # the command that writes such a file, named in error messages


NETWORKS: dict[str, NetworkKind] = {
    "fusion_net": NetworkKind(FusionNetConfig, build_fusion_net, "warm-start", "semfuse train --phase warm-start"),
    "densefuse": NetworkKind(DenseFuseConfig, DenseFuse, "densefuse", "semfuse train --phase densefuse"),
}
DEFAULT_WEIGHTS = NETWORKS["fusion_net"].default_weights


def _network_kind(kind: str) -> NetworkKind:
    if kind not in NETWORKS:
        raise ValueError(f"unknown network kind {kind!r}; choose one of: {', '.join(NETWORKS)}")
    return NETWORKS[kind]


def config_key(kind: str) -> str:
    """The metadata key holding the JSON config of a network of ``kind`` (e.g. ``semfuse_fusion_net``)."""
    _network_kind(kind)
    return f"semfuse_{kind}"


CONFIG_KEY = config_key("fusion_net")


def resolve_weights(weights: str | Path | None, default: str = DEFAULT_WEIGHTS) -> Path:
    """A bundled weights name (see :data:`semfuse.names.BUNDLED_WEIGHTS`), a file path, or None for the bundled
    ``default``.

    Raises:
        SemfuseError: if the name is neither bundled nor an existing file.
    """
    name = default if weights is None else str(weights)
    if name in BUNDLED_WEIGHTS:
        path = BUNDLED_WEIGHTS[name].path
        if not path.is_file():
            raise SemfuseError(f"the bundled weights {name!r} are missing from the installation ({path}); reinstall")
        return path
    path = Path(name)
    if not path.is_file():
        raise SemfuseError(
            f"weights {name!r} is neither a file nor a bundled name ({', '.join(BUNDLED_WEIGHTS)}); check the path"
        )
    return path


def segmenter_for(weights: str | Path | None) -> Path:
    """The segmenter that belongs to fusion weights (a bundled name, a file, or None for the bundled default).

    Bundled weights name theirs in :data:`semfuse.names.BUNDLED_WEIGHTS` (also when given as the installed file);
    for any other file it is ``<stem>_segmenter.safetensors`` beside it (a renamed copy), else
    ``segmenter.safetensors`` in the same folder, where training writes it.

    Raises:
        SemfuseError: if the weights have no segmenter (or it is missing).
    """
    path = resolve_weights(weights)
    declared = next((entry for entry in BUNDLED_WEIGHTS.values() if entry.path.resolve() == path.resolve()), None)
    if declared is not None:
        segmenter = declared.segmenter_path
    else:
        renamed = path.with_name(f"{path.stem}_segmenter.safetensors")
        segmenter = renamed if renamed.is_file() else path.with_name("segmenter.safetensors")
    if segmenter is None or not segmenter.is_file():
        raise SemfuseError(f"no segmenter belongs to the weights {path.name}: --segment needs semantically trained "
                           "weights (e.g. --weights semantic-msrs-boxes) or --segmenter FILE")
    return segmenter


def save_module(module: nn.Module, path: str | Path, info: dict | None = None) -> Path:
    """Write any module's state dict as ``.safetensors`` with string metadata ``info``, atomically."""
    metadata = {key: str(value) for key, value in (info or {}).items()}
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()}
    return atomic_write(Path(path), lambda temporary: save_file(tensors, str(temporary), metadata=metadata), True)


def save_network(kind: str, net: nn.Module, config: Any, path: str | Path, info: dict | None = None) -> Path:
    """Write ``net`` of ``kind`` with its ``config`` (and optional ``info``, stored as strings) atomically to ``path``.

    Args:
        kind: a key of :data:`NETWORKS` (``fusion_net``, ``densefuse``).
        net: the network; its state dict is written from the CPU.
        config: the network's config, an instance of the kind's config class.
        path: the ``.safetensors`` file to write (replaced if it exists).
        info: extra metadata such as the phase or iteration count.
    """
    network = _network_kind(kind)
    if not isinstance(config, network.config_class):
        expected, received = network.config_class.__name__, type(config).__name__
        raise TypeError(f"a {kind} network is saved with a {expected}, got {received}")
    return save_module(net, path, {**(info or {}), config_key(kind): json.dumps(config.to_dict())})


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a weights file.

    Raises:
        SemfuseError: if the file is not a readable ``.safetensors`` file.
    """
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError) as error:
        raise SemfuseError(
            f"{path} is not a readable .safetensors weights file ({error}); give a file written by semfuse"
        ) from None


def _stored_config(kind: str, path: Path, metadata: dict[str, str]) -> Any:
    network = _network_kind(kind)
    key = config_key(kind)
    if key not in metadata:
        others = [other for other in NETWORKS if other != kind and config_key(other) in metadata]
        if others:
            raise SemfuseError(f"{path} holds {others[0]} weights, not {kind} weights; give a {kind} weights file")
        raise SemfuseError(f"{path} holds no {kind} config; give weights written by '{network.trained_by}'")
    try:
        config = network.config_class(**json.loads(metadata[key]))
        if hasattr(config, "validate"):
            config.validate()
    except (TypeError, ValueError) as error:
        raise SemfuseError(
            f"{path} has an unusable {kind} config ({error}); retrain with '{network.trained_by}'"
        ) from None
    return config


def load_network(kind: str, weights: str | Path | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Build the network of ``kind`` described in a weights file and load its weights, in eval mode on ``device``.

    Args:
        kind: a key of :data:`NETWORKS`.
        weights: a bundled name, a ``.safetensors`` file, or None for the kind's bundled default.
        device: where the network is put.

    Raises:
        SemfuseError: one line naming the file, if it is missing, unreadable, of another kind or does not match
            its stored config.
    """
    network = _network_kind(kind)
    path = resolve_weights(weights, network.default_weights)
    config = _stored_config(kind, path, read_metadata(path))
    net = network.build(config)
    try:
        net.load_state_dict(load_file(str(path)))
    except (RuntimeError, SafetensorError) as error:
        raise SemfuseError(
            f"{path} does not match its stored {kind} config ({str(error).splitlines()[0]}); retrain with "
            f"'{network.trained_by}'"
        ) from None
    return net.to(device).eval()


def save_fusion_net(net: FusionNet, config: FusionNetConfig, path: str | Path, info: dict | None = None) -> Path:
    """:func:`save_network` for the fusion network."""
    return save_network("fusion_net", net, config, path, info)


def load_fusion_net(weights: str | Path | None = None, device: str | torch.device = "cpu") -> FusionNet:
    """:func:`load_network` for the fusion network (default: the bundled warm-start weights)."""
    return load_network("fusion_net", weights, device)


def save_densefuse(model: DenseFuse, path: str | Path, info: dict | None = None) -> Path:
    """:func:`save_network` for the DenseFuse auto-encoder (its config is ``model.config``)."""
    return save_network("densefuse", model, model.config, path, info)


def load_densefuse(weights: str | Path | None = None, device: str | torch.device = "cpu") -> DenseFuse:
    """:func:`load_network` for the DenseFuse auto-encoder (default: the bundled weights)."""
    return load_network("densefuse", weights, device)
