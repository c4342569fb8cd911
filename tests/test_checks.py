"""The one input-check helper: what it accepts, what it refuses, and the errors it raises (one line, a SemfuseError
that stays a ValueError / TypeError for Python callers)."""

import numpy as np
import pytest
import torch

from semfuse.checks import check_tensors, layout_matches
from semfuse.errors import InputError, InputTypeError, SemfuseError


@pytest.mark.parametrize(
    "shape, layout, fits",
    [
        ((2, 1, 8, 8), "(B, 1, H, W)", True),
        ((2, 3, 8, 8), "(B, 1, H, W)", False),
        ((1, 8, 8), "(B, 1, H, W)", False),
        ((2, 5, 8, 8), "(B, C, H, W)", True),
        ((3, 8, 8), "(..., 3, H, W)", True),
        ((4, 2, 3, 8, 8), "(..., 3, H, W)", True),
        ((8, 8), "(..., 3, H, W)", False),
        ((), "(...)", True),
        ((5, 7), "(N, D)", True),
    ],
)
def test_layouts(shape, layout, fits):
    assert layout_matches(shape, layout) is fits


def test_the_errors_are_semfuse_errors_of_the_python_kind():
    assert issubclass(InputError, SemfuseError) and issubclass(InputError, ValueError)
    assert issubclass(InputTypeError, SemfuseError) and issubclass(InputTypeError, TypeError)


def test_refusals_name_the_function_the_argument_and_what_was_received():
    image = torch.zeros(1, 1, 8, 8)
    cases = [
        ({"x": np.zeros((1, 1, 8, 8))}, {}, InputTypeError, "f expects x to be a torch.Tensor, got ndarray"),
        ({"x": torch.zeros(8, 8)}, {}, InputError, r"f expects x of shape \(B, 1, H, W\), got \(8, 8\)"),
        ({"x": image.bool()}, {}, InputTypeError, "f expects x with real values, got dtype torch.bool"),
        ({"x": image.to(torch.uint8)}, {"values": "float", "scale": "in [0, 1]"}, InputError,
         r"f expects x with float values in \[0, 1\], got dtype torch.uint8"),
        ({"x": image, "y": torch.zeros(1, 1, 8, 9)}, {}, InputError,
         r"f expects y of the same shape as x \(1, 1, 8, 8\), got \(1, 1, 8, 9\)"),
        ({"x": image}, {"min_size": 11}, InputError,
         r"f needs images of at least 11x11 pixels, got shape \(1, 1, 8, 8\)"),
    ]
    for tensors, options, error, message in cases:
        with pytest.raises(error, match=message):
            check_tensors("f", tensors, **options)


def test_accepted_inputs_pass():
    check_tensors("f", {"x": torch.zeros(1, 1, 11, 11), "y": torch.zeros(1, 1, 11, 11, dtype=torch.uint8)}, min_size=11)
    check_tensors("f", {"a": torch.zeros(3), "b": torch.zeros(4)}, "(...)", same_shape=False)
