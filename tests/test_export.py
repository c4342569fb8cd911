"""ONNX export: onnxruntime agrees with PyTorch on the bundled samples, dynamic sizes, and the command's errors."""

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from semfuse.cli import main  # noqa: E402
from semfuse.export import TOLERANCE, bundled_sample_pairs, check_onnx, export_onnx, onnx_session  # noqa: E402
from semfuse.models.fusion_net import FusionNetConfig, build_fusion_net  # noqa: E402
from semfuse.models.weights import load_fusion_net, save_network  # noqa: E402

TINY = FusionNetConfig(widths=[8, 16, 16, 24], heads=[2, 4, 4, 8], stem_channels=8)


@pytest.fixture(scope="module")
def bundled_onnx(tmp_path_factory):
    net = load_fusion_net("warm-start", "cpu")
    return net, export_onnx(net, tmp_path_factory.mktemp("onnx") / "semfuse.onnx")


def test_bundled_network_agrees_with_pytorch_on_every_sample(bundled_onnx):
    net, path = bundled_onnx
    # every bundled pair, cropped (an odd size for half of them) so that the eager reference stays quick
    crops = {}
    for index, (name, (ir, vis)) in enumerate(bundled_sample_pairs().items()):
        height, width = (97, 131) if index % 2 else (120, 160)
        crops[name] = (ir[..., 40 : 40 + height, 60 : 60 + width].contiguous(),
                       vis[..., 40 : 40 + height, 60 : 60 + width].contiguous())
    differences = check_onnx(path, net, crops)
    assert set(differences) == set(bundled_sample_pairs())
    assert max(differences.values()) < TOLERANCE


def test_height_width_and_batch_are_dynamic(bundled_onnx):
    net, path = bundled_onnx
    session = onnx_session(path, threads=1)
    generator = torch.Generator().manual_seed(0)
    for shape in [(1, 1, 33, 47), (2, 1, 64, 48)]:
        ir, vis = torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)
        (fused,) = session.run(["fused"], {"ir": ir.numpy(), "vis": vis.numpy()})
        with torch.inference_mode():
            reference = net(ir, vis)
        assert fused.shape == shape
        assert abs(torch.from_numpy(fused) - reference).max() < TOLERANCE


def test_export_command_writes_checks_and_refuses_to_overwrite(tmp_path, capsys):
    weights = save_network(build_fusion_net(TINY), tmp_path / "tiny.safetensors")
    out = tmp_path / "tiny.onnx"
    argv = ["export", "--format", "onnx", "--weights", str(weights), "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    assert out.stat().st_size > 10_000
    capsys.readouterr()
    assert main(argv) == 2  # exists, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--no-check"]) == 0


def test_export_command_wants_an_onnx_file_name(tmp_path, capsys):
    assert main(["export", "--out", str(tmp_path / "net.pt")]) == 2
    assert "net.onnx" in capsys.readouterr().err
    assert not (tmp_path / "net.pt").exists()
