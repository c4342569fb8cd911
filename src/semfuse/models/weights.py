"""Network weight files: ``.safetensors`` with the network's config stored inside as metadata.

One pair of functions serves every network semfuse trains: :func:`save_network` writes the state dict with the
network's own ``config`` as JSON under ``semfuse_<kind>`` (``semfuse_fusion_net``, ``semfuse_densefuse``,
``semfuse_segmenter``) plus any string ``info``; :func:`load_network` builds the network of that kind from the
stored config and loads the tensors. Loading reads tensors and a JSON string only; nothing is unpickled.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from semfuse.errors import InputTypeError, SemfuseError
from semfuse.files import atomic_write
from semfuse.models.densefuse import DenseFuse, DenseFuseConfig
from semfuse.models.fusion_net import FusionNet, FusionNetConfig, build_fusion_net
from semfuse.models.segmenter import Segmenter, SegmenterConfig, build_segmenter
from semfuse.names import BUNDLED_WEIGHTS
from semfuse.registry import Registry


@dataclass(frozen=True)
class NetworkKind:
    """How to rebuild one kind of network from its stored config, and what to tell a user whose file does not fit."""

    config_class: type  # a dataclass with ``to_dict()``; built from the stored JSON by keyword
    build: Callable[[Any], nn.Module]  # config -> network with freshly initialised weights
    default_weights: str | None  # the bundled weights used when none are given (None: a file must be given)
    trained_by: str  # the command that writes such a file, named in error messages
    missing: str = "{path} holds no {kind} config; give weights written by '{trained_by}'"
    mismatch: str = "{path} does not match its stored {kind} config ({error}); retrain with '{trained_by}'"


DEFAULT_WEIGHTS = "warm-start"  # the fusion network's bundled weights, used when none are given
NETWORKS = Registry[NetworkKind]("network kind")
NETWORKS.register("fusion_net", NetworkKind(FusionNetConfig, build_fusion_net, DEFAULT_WEIGHTS,
                                            "semfuse train --phase warm-start"))
NETWORKS.register("densefuse", NetworkKind(DenseFuseConfig, DenseFuse, "densefuse", "semfuse train --phase densefuse"))
NETWORKS.register("segmenter", NetworkKind(
    SegmenterConfig, build_segmenter, None, "semfuse train",
    missing="{path} holds no semfuse segmenter; segmenter weights are written by '{trained_by}' as "
            "segmenter.safetensors beside the fusion weights",
    mismatch="{path} does not match SegFormer-b0 with {classes} classes: {error}"))


def config_key(kind: str) -> str:
    """The metadata key holding the JSON config of a network of ``kind`` (e.g. ``semfuse_fusion_net``)."""
    NETWORKS[kind]  # an UnknownNameError for a kind that is not registered
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


def save_network(net: nn.Module, path: str | Path, info: dict | None = None) -> Path:
    """Write ``net`` with its own ``net.config`` (and optional ``info``, stored as strings) atomically to ``path``.

    Args:
        net: a network of a kind in :data:`NETWORKS`; its state dict is written from the CPU.
        path: the ``.safetensors`` file to write (replaced if it exists).
        info: extra metadata such as the phase or iteration count.

    Raises:
        InputTypeError: (a TypeError) if ``net`` carries no config of a registered network kind.
    """
    config = getattr(net, "config", None)
    kind = next((kind for kind, network in NETWORKS.items() if isinstance(config, network.config_class)), None)
    if kind is None or config is None:
        raise InputTypeError(f"a {type(net).__name__} carries no network config ({type(config).__name__}); only "
                        f"{', '.join(NETWORKS.names)} networks are saved with save_network")
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


def stored_config(kind: str, path: str | Path) -> Any:
    """The config of a network of ``kind`` stored in the weights file at ``path`` (the tensors are not read).

    Raises:
        SemfuseError: one line naming the file, if it is unreadable, of another kind or its config is unusable.
    """
    network = NETWORKS[kind]
    key, metadata = config_key(kind), read_metadata(path)
    if key not in metadata:
        others = [other for other in NETWORKS if other != kind and config_key(other) in metadata]
        if others:
            raise SemfuseError(f"{path} holds {others[0]} weights, not {kind} weights; give a {kind} weights file")
        raise SemfuseError(network.missing.format(path=path, kind=kind, trained_by=network.trained_by))
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
    network = NETWORKS[kind]
    name = weights if weights is not None else network.default_weights
    if name is None:
        raise SemfuseError(f"there are no bundled {kind} weights; give a weights file written by "
                           f"'{network.trained_by}'")
    path = resolve_weights(name)
    config = stored_config(kind, path)
    net = network.build(config)
    try:
        net.load_state_dict(load_file(str(path)))
    except (RuntimeError, SafetensorError) as error:
        raise SemfuseError(network.mismatch.format(
            path=path, kind=kind, trained_by=network.trained_by, error=str(error).splitlines()[0],
            classes=len(getattr(config, "class_names", ())))) from None
    return net.to(device).eval()


def load_fusion_net(weights: str | Path | None = None, device: str | torch.device = "cpu") -> FusionNet:
    """:func:`load_network` for the fusion network (default: the bundled warm-start weights)."""
    return cast(FusionNet, load_network("fusion_net", weights, device))


def load_densefuse(weights: str | Path | None = None, device: str | torch.device = "cpu") -> DenseFuse:
    """:func:`load_network` for the DenseFuse auto-encoder (default: the bundled weights)."""
    return cast(DenseFuse, load_network("densefuse", weights, device))


def load_segmenter(weights: str | Path, device: str | torch.device = "cpu") -> Segmenter:
    """:func:`load_network` for the segmenter; its class names are ``segmenter.config.class_names``."""
    return cast(Segmenter, load_network("segmenter", weights, device))


def segmenter_classes(path: str | Path) -> tuple[str, ...]:
    """The class names stored in a segmenter weights file, without building the segmenter."""
    return stored_config("segmenter", path).class_names
