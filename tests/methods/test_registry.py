"""get_method: one set of options for every method (weights, device, the method's own), unset options dropped."""

import pytest
import torch

from semfuse.errors import SemfuseError
from semfuse.methods import available_methods, get_method, method_info

NETWORKS = {"semfuse", "densefuse-add", "densefuse-l1"}
CLASSICAL = {"average", "max", "laplacian", "dwt", "gff", "mst-sr"}


def test_the_registry_says_which_methods_take_weights():
    flags = {info.name: info.takes_weights for info in available_methods()}
    assert {name for name, takes in flags.items() if takes} == NETWORKS
    assert CLASSICAL <= {name for name, takes in flags.items() if not takes}


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_a_method_without_weights_refuses_them_in_one_line(name):
    with pytest.raises(SemfuseError) as error:
        get_method(name, weights="warm-start")
    assert str(error.value) == f"method {name} has no weights; drop --weights"


@pytest.mark.parametrize("name", sorted(NETWORKS | CLASSICAL))
def test_every_method_takes_weights_none_and_a_device(name):
    fuse = get_method(name, weights=None, device=torch.device("cpu"))
    ir, vis = torch.zeros(1, 1, 16, 20), torch.full((1, 1, 16, 20), 0.5)
    fused = fuse(ir, vis)
    assert fused.shape == ir.shape and fused.device == torch.device("cpu")


def test_options_left_at_none_are_dropped():
    ir = torch.rand(1, 1, 33, 40, generator=torch.Generator().manual_seed(1))
    vis = ir.flip(-1)
    assert torch.equal(get_method("laplacian", levels=None)(ir, vis), get_method("laplacian")(ir, vis))
    assert not torch.equal(get_method("laplacian", levels=1)(ir, vis), get_method("laplacian")(ir, vis))


def test_unknown_method_and_device_are_named():
    with pytest.raises(KeyError, match="unknown fusion method 'nope'; choose one of: average"):
        get_method("nope")
    with pytest.raises(SemfuseError, match="unknown device 'tpu7'"):
        get_method("average", device="tpu7")
    assert method_info("semfuse").takes_weights
