"""Every metric against golden values of the MATLAB reference code (GNU Octave), on 8 TNO pairs x {avg, max} fusion.

The full oracle (shared/oracle/golden.json, METRICS.md) lives beside the repository, as in CI, or inside the
checkout. Without it the tests run on the committed slice in tests/metrics/oracle (4 of the 16 records, with their
images; see its README.md), so "matches MATLAB" is tested in any clone.
The issue asks for agreement to 1e-3 relative; the implementation reaches about 1e-10 (VIF) and 1e-12 elsewhere, so
the tests hold it to 1e-7 relative (Nabf, whose values are 1e-7..1e-3: 1e-9 absolute, as golden.json suggests).
"""

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semfuse.metrics import (
    FUSION_METRICS,
    PANEL,
    evaluate_triplet,
    feature_mutual_information,
    mef_ssim_scales,
    mutual_information_pair,
    pearson_correlation,
    ssim_wang,
    vif_pixel,
)

REPO = Path(__file__).resolve().parents[2]
ORACLE_CANDIDATES = (REPO / "shared" / "oracle", REPO.parent / "shared" / "oracle")
FULL_ORACLE = next((path for path in ORACLE_CANDIDATES if (path / "golden.json").is_file()), None)
SLICE = Path(__file__).resolve().parent / "oracle"
ORACLE = FULL_ORACLE or SLICE
GOLDEN = json.loads((ORACLE / "golden.json").read_text())
RECORDS = GOLDEN["records"]
RELATIVE = 1e-7
NABF_ABSOLUTE = 1e-9
# Table name -> golden.json key (only MS-SSIM is spelt differently).
GOLDEN_KEY = {name: name.replace("-", "_") for name in FUSION_METRICS}

needs_full_oracle = pytest.mark.skipif(
    FULL_ORACLE is None, reason=f"full metric oracle not found at {' or '.join(map(str, ORACLE_CANDIDATES))}"
)


def _id(record: dict) -> str:
    return f"{record['dataset']}_{record['name']}_{record['fusion']}"


@lru_cache(maxsize=48)
def _image(relative: str, sha256: str) -> np.ndarray:
    """An oracle image as uint8 (H, W), checked against the pixel hash stored in golden.json."""
    image = np.asarray(Image.open(ORACLE / relative))
    assert image.dtype == np.uint8 and image.ndim == 2, f"{relative}: expected 8-bit grey, got {image.dtype}"
    assert hashlib.sha256(image.tobytes()).hexdigest() == sha256, f"{relative} differs from the oracle's pixels"
    return image


def _triplet(record: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    paths, hashes = record["images"], record["pixel_sha256"]
    return tuple(_image(paths[key], hashes[key]) for key in ("fused", "ir", "vi"))


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).view(1, 1, *image.shape)


def _mismatches(computed: dict[str, float], expected: dict[str, float]) -> list[str]:
    failures = []
    for key, value in computed.items():
        want = expected[key]
        error = abs(value - want) if key == "Nabf" else abs(value - want) / abs(want)
        if not error <= (NABF_ABSOLUTE if key == "Nabf" else RELATIVE):
            failures.append(f"{key}: got {value!r}, golden {want!r} (error {error:.2e})")
    return failures


@needs_full_oracle
def test_oracle_holds_sixteen_records():
    assert len(RECORDS) == GOLDEN["n_records"] == 16


@needs_full_oracle
def test_committed_slice_is_an_exact_copy_of_the_full_oracle():
    sliced = json.loads((SLICE / "golden.json").read_text())
    assert len(sliced["records"]) == sliced["n_records"] >= 3
    assert all(record in RECORDS for record in sliced["records"])
    assert {key: value for key, value in sliced.items() if key not in ("records", "n_records", "slice_of")} == {
        key: value for key, value in GOLDEN.items() if key not in ("records", "n_records", "means")
    }
    for record in sliced["records"]:
        for relative in record["images"].values():
            assert (SLICE / relative).read_bytes() == (FULL_ORACLE / relative).read_bytes(), relative


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_panel_matches_golden(record):
    fused, ir, vis = _triplet(record)
    computed = evaluate_triplet(fused, ir, vis)
    assert list(computed) == list(PANEL)
    expected = {name: record["metrics"][GOLDEN_KEY[name]] for name in computed}
    assert not _mismatches(computed, expected)


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_per_source_parts_match_golden(record):
    fused, ir, vis = (_tensor(image) for image in _triplet(record))
    scales = mef_ssim_scales(fused, ir, vis)[0]
    computed = {
        "MI_ir": mutual_information_pair(ir, fused).item(),
        "MI_vi": mutual_information_pair(vis, fused).item(),
        "VIF_ir": vif_pixel(ir, fused).item(),
        "VIF_vi": vif_pixel(vis, fused).item(),
        "SCD_ir_term": pearson_correlation(fused.double() - vis.double(), ir).item(),
        "SCD_vi_term": pearson_correlation(fused.double() - ir.double(), vis).item(),
        "SSIM_wang_ir": ssim_wang(ir, fused).item(),
        "SSIM_wang_vi": ssim_wang(vis, fused).item(),
        "SSIM_mef": scales[0].item(),
        "MS_SSIM_scale2": scales[1].item(),
        "MS_SSIM_scale3": scales[2].item(),
    }
    expected = {**record["parts"], **record["variants"]}
    assert not _mismatches(computed, {key: expected[key] for key in computed})


def test_batch_of_records_matches_golden():
    """The 256x256 pair (TNO_07) avg and max as one batch of 2: batching changes nothing."""
    batch = [record for record in RECORDS if record["name"] == "07"]
    triplets = [_triplet(record) for record in batch]
    fused, ir, vis = (torch.stack([torch.from_numpy(t[i].copy())[None] for t in triplets]) for i in range(3))
    for name, metric in FUSION_METRICS.items():
        values = metric(fused, ir, vis)
        assert values.shape == (2,) and values.dtype == torch.float64
        expected = {f"{name}#{i}": record["metrics"][GOLDEN_KEY[name]] for i, record in enumerate(batch)}
        computed = {f"{name}#{i}": values[i].item() for i in range(2)}
        tolerance = NABF_ABSOLUTE if name == "Nabf" else RELATIVE
        for key in computed:
            error = abs(computed[key] - expected[key]) / (1 if name == "Nabf" else abs(expected[key]))
            assert error <= tolerance, f"{key}: got {computed[key]!r}, golden {expected[key]!r}"


def test_mutual_information_needs_the_254_255_merge():
    """Without Hab.m's uint8 saturation, MI moves by up to 0.071 on these images: the merge is what matches."""
    record = max(RECORDS, key=lambda r: abs(r["metrics"]["MI"] - r["variants"]["MI_no_254_255_merge"]))
    fused, ir, vis = _triplet(record)
    mi = evaluate_triplet(fused, ir, vis, names=["MI"])["MI"]
    assert abs(mi - record["metrics"]["MI"]) <= RELATIVE * mi
    assert abs(mi - record["variants"]["MI_no_254_255_merge"]) > 0.01


def _check_fmi(record: dict) -> None:
    fused, ir, vis = (_tensor(image) for image in _triplet(record))
    computed = {
        f"FMI_{feature}": feature_mutual_information(fused, ir, vis, "dct" if feature == "dct" else "pixel").item()
        for feature in ("pixel", "dct")
    }
    assert not _mismatches(computed, {key: record["metrics"][key] for key in computed})


@pytest.mark.parametrize("record", [r for r in RECORDS if r["name"] == "07"], ids=_id)
def test_fmi_matches_golden_on_the_small_pair(record):
    _check_fmi(record)


@pytest.mark.slow
@pytest.mark.parametrize("record", [r for r in RECORDS if r["name"] != "07"], ids=_id)
def test_fmi_matches_golden_on_every_pair(record):
    """About 4 s per record on a CPU core: run with ``-m slow``."""
    _check_fmi(record)
