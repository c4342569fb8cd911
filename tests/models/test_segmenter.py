"""SegFormer-b0 segmenter: the b0 sizes, full-resolution logits, and initialisation from local checkpoint files."""

import pytest
import torch
from safetensors.torch import save_file

from semfuse.errors import SemfuseError
from semfuse.models.segmenter import Segmenter, load_pretrained


@pytest.fixture(scope="module")
def donor():
    torch.manual_seed(1)
    return Segmenter(9)


def test_b0_sizes_and_output_resolution():
    segmenter = Segmenter(9).eval()
    config = segmenter.segformer.config
    assert config.hidden_sizes == [32, 64, 160, 256] and config.depths == [2, 2, 2, 2]
    assert config.decoder_hidden_size == 256
    assert 3.6e6 < sum(p.numel() for p in segmenter.parameters()) < 3.8e6
    with torch.no_grad():
        assert segmenter(torch.rand(1, 3, 37, 53)).shape == (1, 9, 37, 53)


def test_initialise_from_a_segformer_checkpoint(tmp_path, donor):
    path = tmp_path / "segformer_b0.safetensors"
    save_file({k: v.contiguous() for k, v in donor.segformer.state_dict().items()}, str(path))
    torch.manual_seed(2)
    fresh = Segmenter(9)
    loaded, left = load_pretrained(fresh, path)
    assert left == 0 and loaded == len(donor.segformer.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), donor.state_dict().values()))


def test_initialise_the_encoder_from_a_mit_b0_checkpoint(tmp_path, donor):
    # an ImageNet MiT-b0 file holds the encoder only, without the "segformer." prefix, and other heads are skipped
    encoder = {k.removeprefix("segformer."): v for k, v in donor.segformer.state_dict().items()
               if k.startswith("segformer.")}
    encoder["classifier.weight"] = torch.zeros(1000, 256)
    path = tmp_path / "mit_b0.bin"
    torch.save(encoder, path)
    fresh = Segmenter(9)
    loaded, left = load_pretrained(fresh, path)
    assert loaded == len(encoder) - 1 and left == len(fresh.segformer.decode_head.state_dict())
    fresh_encoder, donor_encoder = fresh.segformer.segformer.state_dict(), donor.segformer.segformer.state_dict()
    assert all(torch.equal(fresh_encoder[k], donor_encoder[k]) for k in donor_encoder)


def test_legacy_layer_names_are_mapped(tmp_path, donor):
    # the same weights under the names transformers 4 used (e.g. the published nvidia/mit-b0 files)
    legacy = {"segformer.encoder.patch_embeddings.0.proj.weight": "segformer.stages.0.patch_embeddings.proj.weight",
              "segformer.encoder.block.1.0.attention.self.query.weight": "segformer.stages.1.blocks.0.attention.q_proj.weight",
              "segformer.encoder.block.3.1.mlp.dense2.bias": "segformer.stages.3.blocks.1.mlp.fc2.bias",
              "segformer.encoder.layer_norm.2.weight": "segformer.stages.2.layer_norm.weight",
              "decode_head.linear_c.0.proj.weight": "decode_head.linear_projections.0.proj.weight"}
    state = donor.segformer.state_dict()
    path = tmp_path / "legacy.safetensors"
    save_file({old: state[new].contiguous() for old, new in legacy.items()}, str(path))
    fresh = Segmenter(9)
    assert load_pretrained(fresh, path)[0] == len(legacy)
    assert all(torch.equal(fresh.segformer.state_dict()[new], state[new]) for new in legacy.values())


def test_unrelated_or_missing_checkpoints_are_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"layer.weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(SemfuseError, match="shares no tensor"):
        load_pretrained(Segmenter(9), path)
    with pytest.raises(SemfuseError, match="does not exist"):
        load_pretrained(Segmenter(9), tmp_path / "missing.safetensors")
