"""The names semfuse offers on its command line, in a module that imports nothing heavy (no torch).

The commands build their choices and help from these names without loading torch; the registries that hold the
objects (:mod:`semfuse.methods`, :data:`semfuse.metrics.FUSION_METRICS`, :data:`semfuse.layers.ATTENTION_KINDS`)
register the same names, and ``tests/test_names.py`` checks that the two agree.

Bundled weights are declared here, grouped by the method they serve, as timm declares pretrained tags beside the
model: each entry says its file, its network kind, its methods and its segmenter (if it has one). They live here
rather than beside the methods because :mod:`semfuse.models.weights` resolves a bundled name to its file and must
not import :mod:`semfuse.methods`; the method registry reads them from here to list a method's weights.

Example:
    >>> BUNDLED_WEIGHTS["semantic-msrs-boxes"].segmenter
    'semantic_msrs_boxes_segmenter.safetensors'
    >>> bundled_weights_of("densefuse-l1")
    ('densefuse',)
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from semfuse.registry import Registry

# fusion methods, sorted as `semfuse methods` lists them
METHODS = ("average", "densefuse-add", "densefuse-l1", "dwt", "gff", "laplacian", "max", "mst-sr", "semfuse")
# the default metric panel, in the order of the field's tables
METRIC_PANEL = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "Nabf", "SSIM", "MS-SSIM", "CC", "PSNR", "MSE")
METRICS_ON_REQUEST = ("FMI_pixel", "FMI_dct")  # left out of the default panel: seconds per image
ATTENTION_KINDS = ("efficient", "official", "none", "channel", "spatial")
WARM_START_RULES = ("avg", "max", "none")  # none: no warm start ("w/o WS")
PHASES = ("warm-start", "semantic", "all", "densefuse")
PRECISIONS = ("fp32", "bf16")  # of the semfuse network's inference


@dataclass(frozen=True)
class BundledWeights:
    """Weights shipped in ``semfuse/weights``: a file, the kind of network it holds, the methods that use it.

    Attributes:
        name: the name ``--weights`` accepts.
        file: the ``.safetensors`` file in ``semfuse/weights`` (its card is the ``.md`` of the same stem).
        network: the network kind stored in the file (``fusion_net``, ``densefuse``).
        methods: the registered methods that run these weights.
        segmenter: the jointly trained segmenter's file in ``semfuse/weights`` (for ``fuse --segment``), if any.
    """

    name: str
    file: str
    network: str
    methods: tuple[str, ...]
    segmenter: str | None = None

    @property
    def path(self) -> Path:
        """Where the weights file is installed."""
        return _installed(self.file)

    @property
    def segmenter_path(self) -> Path | None:
        """Where the segmenter file is installed; None for weights without a segmenter."""
        return None if self.segmenter is None else _installed(self.segmenter)


def _installed(file: str) -> Path:
    return Path(str(resources.files("semfuse") / "weights" / file))


def _declare(*weights: BundledWeights) -> Registry[BundledWeights]:
    registry = Registry[BundledWeights]("bundled weights")
    for bundled in weights:
        registry.register(bundled.name, bundled)
    return registry


BUNDLED_WEIGHTS = _declare(
    # the semfuse network (method "semfuse")
    BundledWeights("warm-start", "warm_start_avg.safetensors", "fusion_net", ("semfuse",)),
    BundledWeights("warm-start-max", "warm_start_max.safetensors", "fusion_net", ("semfuse",)),  # Table II's Max-ST
    BundledWeights("semantic-msrs-boxes", "semantic_msrs_boxes.safetensors", "fusion_net", ("semfuse",),
                   segmenter="semantic_msrs_boxes_segmenter.safetensors"),
    # the DenseFuse auto-encoder (both fusion rules)
    BundledWeights("densefuse", "densefuse.safetensors", "densefuse", ("densefuse-add", "densefuse-l1")),
)


def bundled_weights_of(method: str) -> tuple[str, ...]:
    """The names of the bundled weights that ``method`` runs, in declaration order (none for classical methods)."""
    return tuple(name for name, bundled in BUNDLED_WEIGHTS.items() if method in bundled.methods)


def methods_with_bundled_weights() -> tuple[str, ...]:
    """The methods that run bundled weights (the network methods), in the order of :data:`METHODS`."""
    return tuple(method for method in METHODS if bundled_weights_of(method))


def bundled_weights_for(network: str) -> tuple[str, ...]:
    """The names of the bundled weights holding a network of kind ``network``, in declaration order."""
    return tuple(name for name, bundled in BUNDLED_WEIGHTS.items() if bundled.network == network)
