"""``semfuse export``: write the fusion network for another runtime (ONNX) and check it against PyTorch."""

import argparse
import logging
from pathlib import Path

from semfuse.names import bundled_weights_for

logger = logging.getLogger("semfuse.export")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the fusion network as ONNX (dynamic height and width) and check it with onnxruntime",
        description="Write the fusion network as an ONNX graph: inputs 'ir' and 'vis', (B, 1, H, W) float32\n"
        "luminance in [0, 1], output 'fused' of the same shape; batch, height and width are dynamic. Unless\n"
        "--no-check, onnxruntime then fuses the bundled sample pairs and the export fails if any pixel differs\n"
        "from PyTorch by more than 1e-4. Needs: pip install 'semfuse[onnx]'.",
        epilog="examples:\n  semfuse export --format onnx --out semfuse.onnx\n"
        "  semfuse export --format onnx --weights run/fusion_net.safetensors --out run/semfuse.onnx --overwrite",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="output format (default: onnx)")
    parser.add_argument("--out", type=Path, required=True, help="the file to write, e.g. semfuse.onnx")
    parser.add_argument("--weights", help="network weights: a bundled name "
                        f"({', '.join(bundled_weights_for('fusion_net'))}) or a .safetensors file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX operator set (default: 17)")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime check on the bundled samples")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from semfuse.errors import SemfuseError
    from semfuse.export import TOLERANCE, check_onnx, export_onnx
    from semfuse.files import refuse_existing
    from semfuse.models.weights import load_fusion_net

    if args.out.suffix.lower() != ".onnx":
        raise SemfuseError(f"ONNX files end in .onnx; name the output {args.out.with_suffix('.onnx')}")
    refuse_existing([args.out], args.overwrite)
    net = load_fusion_net(args.weights, "cpu")
    path = export_onnx(net, args.out, opset=args.opset, overwrite=args.overwrite)
    logger.info("wrote %s (opset %d, dynamic batch, height and width)", path, args.opset)
    if args.no_check:
        return 0
    differences = check_onnx(path, net)
    worst = max(differences, key=differences.__getitem__)
    logger.info("onnxruntime vs PyTorch on %d bundled pairs: max |difference| %.2e (%s)", len(differences),
                differences[worst], worst)
    if differences[worst] > TOLERANCE:
        logger.error("the exported graph differs from PyTorch by more than %.0e on %s", TOLERANCE, worst)
        return 1
    return 0
