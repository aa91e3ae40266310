"""What decoding the first rows during engine preparation is worth, on photos and on small PNGs.

Two measurements, in this one process, interleaved:

- the overlap itself: a first run's engine preparation (default-width 128 px generator, random
  weights, a fresh engines folder) alone, decoding 20 photo-sized JPEGs (1600 x 1200) alone, and
  both at once in two threads, as the prefetch runs them;
- whole `run_manifest` calls with and without the prefetch (the executor's ``prefetch`` replaced by
  a no-op), each into a fresh engines folder: 48 such JPEGs, or 48 PNGs of 128 px.

    python benchmarks/prefetch.py [--rounds 5] [--rows 48]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _common import default_checkpoint, manifest  # noqa: E402

from attgan_batch.engines.options import EngineOptions  # noqa: E402
from attgan_batch.executors.local import LocalExecutor  # noqa: E402
from attgan_batch.pipeline import RunOptions, run_manifest  # noqa: E402


def photos(folder: Path, n: int, size: tuple[int, int], fmt: str) -> list[Path]:
    """Smooth gradients with noise, so that JPEG and PNG compress and decode like photos do."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        base = (xx * (1 + i % 5) + yy * (1 + i % 3)) % 256
        img = np.stack([base, (base + 85 * (i % 3)) % 256, 255 - base], -1) + rng.normal(0, 12, (h, w, 3))
        path = folder / f"p{i:03d}.{fmt}"
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, **({"quality": 90} if fmt == "jpg" else {}))
        paths.append(path)
    return paths


def timed_run(manifest_path: Path, ckpt: Path, work: Path, tag: str) -> float:
    engines, out = work / f"engines-{tag}", work / f"out-{tag}"
    options = RunOptions(out_dir=out, checkpoint=ckpt, force=True,
                         engine=EngineOptions(backend="auto", device="cpu", engines_dir=engines), log=lambda m: None)
    start = time.perf_counter()
    summary = run_manifest(manifest_path, options)
    seconds = time.perf_counter() - start
    assert summary.ok == summary.rows, summary.to_dict()
    shutil.rmtree(engines)
    shutil.rmtree(out)
    return seconds


def overlap(ckpt: Path, work: Path, rounds: int) -> None:
    import threading

    from attgan_batch.data.images import load_rgb, preprocess
    from attgan_batch.engines.openvino_engine import prepare_openvino
    from attgan_batch.model import load_checkpoint

    loaded = load_checkpoint(ckpt)
    images = photos(work / "overlap", 20, (1600, 1200), "jpg")
    count = iter(range(10 ** 6))

    def prepare() -> None:
        prepare_openvino(loaded, work / f"overlap-engines-{next(count)}", log=lambda m: None)

    def decode() -> None:
        for path in images:
            preprocess(load_rgb(path), loaded.settings.img_size)

    def both() -> None:
        thread = threading.Thread(target=decode)
        thread.start()
        prepare()
        thread.join()

    prepare(), decode()
    times: dict[str, list[float]] = {"engine alone": [], "decode alone": [], "both at once": []}
    for _ in range(rounds):
        for name, fn in (("engine alone", prepare), ("decode alone", decode), ("both at once", both)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"overlap, median of {rounds}: engine preparation {med['engine alone']:.2f} s, decoding 20 photo JPEGs "
          f"{med['decode alone']:.2f} s, both at once {med['both at once']:.2f} s (one after the other "
          f"{med['engine alone'] + med['decode alone']:.2f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=48)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="attgan-prefetch-"))
    real_prefetch = LocalExecutor.prefetch
    try:
        ckpt = default_checkpoint(work / "ckpt")
        overlap(ckpt, work, args.rounds)
        inputs = {"photo JPEGs 1600x1200": photos(work / "jpg", args.rows, (1600, 1200), "jpg"),
                  "PNGs 128x128": photos(work / "png", args.rows, (128, 128), "png")}
        for name, images in inputs.items():
            path = manifest(work / f"{name.split()[0]}.csv", images, args.rows)
            timed_run(path, ckpt, work, "warmup")
            times: dict[str, list[float]] = {"with prefetch": [], "without": []}
            for _ in range(args.rounds):
                LocalExecutor.prefetch = real_prefetch
                times["with prefetch"].append(timed_run(path, ckpt, work, "a"))
                LocalExecutor.prefetch = lambda *a, **k: None
                times["without"].append(timed_run(path, ckpt, work, "b"))
            LocalExecutor.prefetch = real_prefetch
            ratios = [b / a for a, b in zip(times["with prefetch"], times["without"])]
            print(f"{args.rows} {name}: with prefetch {statistics.median(times['with prefetch']):.2f} s, without "
                  f"{statistics.median(times['without']):.2f} s: x{statistics.median(ratios):.3f} faster "
                  f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)
    finally:
        LocalExecutor.prefetch = real_prefetch
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
