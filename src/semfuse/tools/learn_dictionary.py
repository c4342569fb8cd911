"""Learn the MST-SR dictionary from real infrared and visible images, and write it with its card.

Usage (from the repository root, with the shared data folder beside it)::

    python -m semfuse.tools.learn_dictionary --data-root ../shared/data \
        --output src/semfuse/methods/classical/data/mst_sr_dictionary.npy

Training data: the RoadScene pairs (``roadscene/{ir,vi}``) except the 50 listed in
``roadscene/cddfuse50_subset.txt`` (the RoadScene test set of CDDFuse and later papers), and the MSRS pairs in
``msrs_unlabeled/test/{ir,vi}``. TNO, the evaluation set, is never read. Each infrared image and the BT.601
luminance of each visible image gives the same number of 8x8 patches at uniformly random positions; every patch
has its mean removed. K-SVD (:mod:`semfuse.tools.ksvd`) starts from randomly chosen training patches that are not flat
(RMS >= 1/255). The dictionary is saved as float32 (64, K) and a Markdown card (same name, ``.md``) records data,
counts, settings, the RMSE per round and the file's SHA-256. The same command on the same data, seed, thread count
and library versions gives the same dictionary.
"""

import argparse
import hashlib
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semfuse import logger
from semfuse.data.colour import luminance
from semfuse.data.io import list_images, read_image
from semfuse.methods.classical.dictionary import PATCH_SIDE
from semfuse.tools.ksvd import KsvdResult, ksvd

EXCLUDED_LIST = Path("roadscene") / "cddfuse50_subset.txt"
TEXTURE_RMS = 1.0 / 255.0  # initial atoms come from patches at least this far from flat
SOURCES = (("roadscene", Path("roadscene")), ("msrs", Path("msrs_unlabeled") / "test"))


def training_images(data_root: Path) -> tuple[list[tuple[str, np.ndarray]], dict[str, int]]:
    """Every training luminance image as (name, (H, W) float32 array), and the number of pairs per dataset."""
    excluded_file = data_root / EXCLUDED_LIST
    excluded = set(excluded_file.read_text().split()) if excluded_file.is_file() else set()
    images, pairs = [], {}
    for dataset, folder in SOURCES:
        infrared, visible = list_images(data_root / folder / "ir"), list_images(data_root / folder / "vi")
        names = [name for name in infrared if name in visible and infrared[name].name not in excluded]
        pairs[dataset] = len(names)
        for name in names:
            ir, vis = read_image(infrared[name]), read_image(visible[name])
            if vis.ndim == 3:
                vis = luminance(torch.from_numpy(vis).permute(2, 0, 1)).squeeze(0).numpy()
            if ir.ndim == 3:
                ir = luminance(torch.from_numpy(ir).permute(2, 0, 1)).squeeze(0).numpy()
            images += [(f"{dataset}/ir/{name}", ir), (f"{dataset}/vi/{name}", vis)]
    if not images:
        raise SystemExit(f"no training pairs under {data_root}; expected roadscene/ and msrs_unlabeled/test/ there")
    return images, pairs


def sample_patches(images: list[tuple[str, np.ndarray]], count: int, seed: int) -> np.ndarray:
    """``count`` mean-removed 8x8 patches, (count, 64) float64, the same number from each image (+-1)."""
    rng = np.random.default_rng(seed)
    quotas = np.full(len(images), count // len(images))
    quotas[: count % len(images)] += 1
    blocks = []
    for (_, image), quota in zip(images, quotas):
        rows = rng.integers(0, image.shape[0] - PATCH_SIDE + 1, size=quota)
        cols = rng.integers(0, image.shape[1] - PATCH_SIDE + 1, size=quota)
        offsets = np.arange(PATCH_SIDE)
        block = image[rows[:, None, None] + offsets[None, :, None], cols[:, None, None] + offsets[None, None, :]]
        blocks.append(block.reshape(quota, -1).astype(np.float64))  # (quota, 64), row-major like F.unfold
    patches = np.concatenate(blocks)
    return patches - patches.mean(axis=1, keepdims=True)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or what :mod:`platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def write_card(path: Path, args: argparse.Namespace, command: str, pairs: dict[str, int], images: int,
               patch_rms: float, result: KsvdResult, seconds: float, digest: str) -> None:
    """Write the Markdown card describing how the dictionary at ``path`` was made."""
    rounds = "\n".join(
        f"| {i + 1} | {rmse:.6f} | {replaced} |" for i, (rmse, replaced) in enumerate(zip(result.rmse, result.replaced))
    )
    path.with_suffix(".md").write_text(f"""# MST-SR dictionary card

`{path.name}`: float32 array of shape (64, {args.atoms}), one unit-norm atom per column for an 8x8 patch flattened
row-major (the order of `torch.nn.functional.unfold`) with its mean removed. Used by the `mst-sr` method
(Liu, Liu & Wang, Information Fusion 2015) to code the low-pass band. SHA-256 `{digest}`.

## Data

- RoadScene (`roadscene/ir`, `roadscene/vi`): {pairs['roadscene']} pairs, i.e. all 221 except the 50 named in
  `roadscene/cddfuse50_subset.txt`, which other papers use as a RoadScene test set.
- MSRS (`msrs_unlabeled/test/ir`, `.../vi`): {pairs['msrs']} pairs.
- TNO (the evaluation set) is not used.
- {images} luminance images (infrared as is; visible as BT.601 Y), values in [0, 1].

## Patches

{args.patches} patches of 8x8 at uniformly random positions, {args.patches // images} or {args.patches // images + 1}
per image, each with its mean removed (no other filtering), random generator `numpy.random.default_rng({args.seed})`.

## Algorithm

K-SVD (Aharon, Elad & Bruckstein 2006), semfuse's implementation (`semfuse/tools/ksvd.py`):
initial atoms = {args.atoms} training patches drawn at random (same seed) among those with an RMS of at least
1/255 (a flat patch has no direction), normalised; coding by OMP with exactly
{args.sparsity} atoms per patch; exact rank-1 atom update; after each round, atoms used by fewer than 4 patches
or with |cosine| > 0.99 to another atom are replaced by the worst-represented patch. {args.iterations} rounds,
float64, {args.threads} torch thread(s), {seconds:.0f} s on {cpu_model()}
(Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}).

| round | RMSE of the {args.sparsity}-sparse codes ([0, 1] units) | atoms replaced |
|---|---|---|
{rounds}

For scale: the RMS of the mean-removed training patches is {patch_rms:.6f}.

## Reproduce

From the repository root, with the shared data beside it:

```
{command}
```
""")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Learn the MST-SR dictionary (K-SVD) from RoadScene and MSRS patches.")
    parser.add_argument("--data-root", type=Path, required=True, help="folder holding roadscene/ and msrs_unlabeled/")
    parser.add_argument("--output", type=Path, required=True, help="the .npy file to write (a .md card goes beside it)")
    parser.add_argument("--patches", type=int, default=100_000, help="training patches (paper: 100,000)")
    parser.add_argument("--atoms", type=int, default=256, help="dictionary atoms (paper: 256)")
    parser.add_argument("--sparsity", type=int, default=8, help="atoms per patch in the K-SVD coding step")
    parser.add_argument("--iterations", type=int, default=30, help="K-SVD rounds")
    parser.add_argument("--seed", type=int, default=0, help="seed of patch positions and initial atoms")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (results are deterministic per count)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    command = "python -m semfuse.tools.learn_dictionary " + " ".join(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    images, pairs = training_images(args.data_root)
    patches = sample_patches(images, args.patches, args.seed)
    patch_rms = float(np.sqrt(np.mean(patches**2)))
    logger.info("%d patches from %d images (%s)", len(patches), len(images), pairs)
    textured = np.flatnonzero(np.sqrt(np.mean(patches**2, axis=1)) >= TEXTURE_RMS)
    initial = patches[np.random.default_rng(args.seed).choice(textured, size=args.atoms, replace=False)].T
    result = ksvd(torch.from_numpy(patches), torch.from_numpy(np.ascontiguousarray(initial)), args.sparsity,
                  args.iterations)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, result.dictionary.numpy().astype(np.float32))
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    write_card(args.output, args, command, pairs, len(images), patch_rms, result, time.perf_counter() - started, digest)
    logger.info("wrote %s (sha256 %s) and its card", args.output, digest)


if __name__ == "__main__":
    main()
