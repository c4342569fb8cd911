"""Every classical method through the registry: the luminance contract on real pairs and on awkward sizes."""

import re

import pytest
import torch

from semfuse.methods import available_methods, get_method

CLASSICAL = ("average", "max", "laplacian", "dwt", "gff", "mst-sr")


@pytest.fixture(scope="module")
def methods():
    return {name: get_method(name) for name in CLASSICAL}


def _assert_contract(fused: torch.Tensor, like: torch.Tensor) -> None:
    assert fused.shape == like.shape
    assert fused.dtype == like.dtype
    assert torch.isfinite(fused).all()
    assert float(fused.min()) >= 0.0 and float(fused.max()) <= 1.0


def test_every_classical_method_is_registered_with_a_reference():
    registered = {info.name: info for info in available_methods()}
    for name in CLASSICAL:
        assert name in registered, f"{name} is not registered"
        assert registered[name].description and registered[name].reference


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("pair", ["tno", "roadscene"])
def test_real_pair_same_size_in_range_and_deterministic(methods, real_pairs, name, pair):
    ir, vis = real_pairs[pair]
    fused = methods[name](ir, vis)
    _assert_contract(fused, ir)
    assert torch.equal(fused, methods[name](ir.clone(), vis.clone()))
    # a fusion keeps something of both: the result is not one of the sources
    assert not torch.equal(fused, ir) and not torch.equal(fused, vis)


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("size", [(1, 1), (1, 6), (3, 5), (8, 8), (7, 9), (33, 17), (130, 70)])
def test_any_size_works(methods, name, size):
    generator = torch.Generator().manual_seed(sum(size))
    ir = torch.rand(1, 1, *size, generator=generator)
    vis = torch.rand(1, 1, *size, generator=generator)
    _assert_contract(methods[name](ir, vis), ir)


@pytest.mark.parametrize("name", CLASSICAL)
def test_full_size_tno_pair(methods, tno_full, name):
    """The largest TNO pair, 945 x 709 (odd width). mst-sr runs with windows every 4 pixels here to keep the test
    fast; sizes are handled by the same code for every step, and the default step 1 runs on the crops."""
    ir, vis = tno_full
    fuse = get_method("mst-sr", step=4) if name == "mst-sr" else methods[name]
    _assert_contract(fuse(ir, vis), ir)


@pytest.mark.parametrize("name", CLASSICAL)
def test_batch_items_are_fused_independently(methods, real_pairs, name):
    (ir_a, vis_a), (ir_b, vis_b) = (tuple(image[..., :137, :185] for image in pair) for pair in real_pairs.values())
    batched = methods[name](torch.cat([ir_a, ir_b]), torch.cat([vis_a, vis_b]))
    single = torch.cat([methods[name](ir_a, vis_a), methods[name](ir_b, vis_b)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CLASSICAL)
def test_rules_are_symmetric_in_the_sources(methods, real_pairs, name):
    ir, vis = real_pairs["roadscene"]
    torch.testing.assert_close(methods[name](ir, vis), methods[name](vis, ir), rtol=0, atol=1e-6)


def test_float64_in_float64_out(methods, real_pairs):
    ir, vis = (image.double() for image in real_pairs["tno"])
    for name in CLASSICAL:
        assert methods[name](ir, vis).dtype == torch.float64


def test_average_is_exactly_the_mean_on_real_pairs(methods, real_pairs):
    for ir, vis in real_pairs.values():
        assert torch.equal(methods["average"](ir, vis), (ir + vis) / 2)


def test_max_is_the_elementwise_maximum_on_real_pairs(methods, real_pairs):
    for ir, vis in real_pairs.values():
        assert torch.equal(methods["max"](ir, vis), torch.maximum(ir, vis))


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize(
    "ir, vis, shown",
    [
        (torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), "(1, 3, 8, 8)"),
        (torch.rand(8, 8), torch.rand(8, 8), "(8, 8)"),
        (torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9), "(1, 1, 8, 9)"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "torch.uint8"),
    ],
)
def test_bad_inputs_are_refused_with_the_shape_received(methods, name, ir, vis, shown):
    with pytest.raises(ValueError) as error:
        methods[name](ir, vis)
    assert name in str(error.value) and shown in str(error.value)


@pytest.mark.parametrize(
    "name, options",
    [
        ("laplacian", {"levels": 0}),
        ("laplacian", {"levels": 2.5}),
        ("dwt", {"wavelet": "no-such-wavelet"}),
        ("dwt", {"mode": "no-such-mode"}),
        ("dwt", {"levels": -1}),
        ("gff", {"r1": 0}),
        ("gff", {"eps1": -0.3}),
        ("mst-sr", {"step": 0}),
        ("mst-sr", {"epsilon": 0}),
        ("mst-sr", {"dictionary": "/no/such/dictionary.npy"}),
        ("mst-sr", {"dictionary": torch.ones(64, 10)}),
    ],
)
def test_bad_options_are_refused_when_the_method_is_built(name, options):
    with pytest.raises(ValueError, match="(?i)" + re.escape(name)):
        get_method(name, **options)


def test_options_change_the_result(real_pairs):
    ir, vis = real_pairs["tno"]
    pairs_of_options = [
        ("laplacian", {"levels": 4}, {"levels": 2}),
        ("laplacian", {}, {"consistency_check": True}),
        ("dwt", {"wavelet": "db2"}, {"wavelet": "haar"}),
        ("gff", {}, {"r1": 10}),
        ("mst-sr", {"step": 1}, {"step": 3}),
        ("mst-sr", {}, {"consistency_check": False}),
    ]
    for name, first, second in pairs_of_options:
        assert not torch.equal(get_method(name, **first)(ir, vis), get_method(name, **second)(ir, vis)), (name, second)
