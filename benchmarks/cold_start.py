"""Whole-process `run` on a fresh checkpoint vs the reference test script's loop, as CI runs it.

For each manifest size (PNG files of the 128 px default-width generator, random init) and each
engine-cache state, one `attgan-batch run` **process** is timed from start to exit:

- *empty*: a new engine cache (`XDG_CACHE_HOME` in a fresh folder) and a checkpoint the machine has
  never seen, so the run exports and compiles its engine first: a CI job on a fresh runner;
- *warm*: the same cache again: a second job that kept the cache.

The baseline, timed in this same script and interleaved with the runs, is what the reference test
script does: build its model (G and D, randomly initialised, as ``AttGAN(args)`` does; its
torchsummary printouts left out), load the weights (``torch.load``, ``G.load_state_dict``), then per
image: decode the PNG, preprocess, G at batch 1 (eager, no_grad), save the PNG.
Printed per case: seconds, the ratio against the reference loop for the same number of images, and
from the run's own report: startup seconds (process start to the first generator batch), setup
seconds (checkpoint load and engine) and rows/s of the rows themselves. Also the import time of
what a default run imports (torch, OpenVINO, the package). Timings drift on shared machines;
compare ratios.

    python benchmarks/cold_start.py                       # 48 and 384 images, fp32, 2 rounds
    python benchmarks/cold_start.py --sizes 48 384 1536 --precision fp32 bf16 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import default_checkpoint, face_images, manifest  # noqa: E402

from attgan_batch.attributes import parse_edit, parse_vector, plan_edit  # noqa: E402
from attgan_batch.data.images import load_rgb, preprocess, to_uint8  # noqa: E402
from attgan_batch.model import DEFAULT_ATTRS, AttGANSettings, Discriminator, Generator  # noqa: E402


def reference_model(ckpt: Path) -> tuple[Generator, AttGANSettings]:
    """The reference's AttGAN(args) then AttGAN.load(path): G and D built with random weights, then G's loaded."""
    settings = AttGANSettings.from_file(ckpt / "setting.txt")
    g = Generator.from_settings(settings)
    Discriminator.from_settings(settings)
    g.load_state_dict(torch.load(ckpt / "checkpoint" / "weights.1.pth", map_location="cpu")["G"])
    return g.eval(), settings


def reference_loop(ckpt: Path, images: list[Path], out: Path) -> float:
    """The reference test script's job; seconds (its model build and checkpoint load included, as there)."""
    from PIL import Image

    start = time.perf_counter()
    g, settings = reference_model(ckpt)
    source = parse_vector("0,1,1,0,0,0,0,1,0,0,1,0,1", DEFAULT_ATTRS)
    a = torch.tensor([plan_edit(source, parse_edit("Blond_Hair=1", DEFAULT_ATTRS), DEFAULT_ATTRS).scaled])
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for i, path in enumerate(images):
            x = preprocess(load_rgb(path), settings.img_size, "auto")[None]
            Image.fromarray(to_uint8(g(x, a)[0])).save(out / f"{i}.png")
    return time.perf_counter() - start


def run_process(manifest_path: Path, ckpt: Path, out: Path, cache: Path, precision: str) -> dict:
    env = os.environ | {"XDG_CACHE_HOME": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "attgan_batch", "run", str(manifest_path), "--out", str(out),
                           "-c", str(ckpt), "--precision", precision, "--force", "-q"],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    return {"seconds": seconds, "setup_seconds": report["setup_seconds"], "startup_seconds": report["startup_seconds"],
            "rows_per_second": report["throughput"]["rows_per_second"], "backend": report["backend"].get("backend")}


def import_seconds() -> float:
    """Seconds to import what a default CPU run imports (median of three fresh interpreters)."""
    code = ("import time; t=time.perf_counter(); import attgan_batch.cli.run, attgan_batch.pipeline.run, "
            "attgan_batch.executors.local, attgan_batch.engines.openvino_engine, openvino; "
            "print(time.perf_counter()-t)")
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                  check=True).stdout) for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 384])
    parser.add_argument("--precision", nargs="+", default=["fp32"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="attgan-cold-"))
    try:
        images = face_images(work / "images", max(args.sizes))
        print(f"imports of a default run (torch, OpenVINO, attgan_batch): {import_seconds():.2f} s")
        results: dict[str, list[float]] = {}
        for r in range(args.rounds):
            for n in args.sizes:
                path = manifest(work / f"m{n}.csv", images[:n], n)
                ref = reference_loop(default_checkpoint(work / f"ref-ckpt-{r}"), images[:n], work / "ref-out")
                results.setdefault(f"{n} reference", []).append(ref)
                for precision in args.precision:
                    ckpt = default_checkpoint(work / f"ckpt-{r}-{n}-{precision}", seed=1000 + r * 10 + n)  # unseen
                    cache = work / f"cache-{r}-{n}-{precision}"
                    for state in ("empty", "warm"):
                        got = run_process(path, ckpt, work / "out", cache, precision)
                        key = f"{n} {precision} {state}"
                        results.setdefault(key, []).append(ref / got["seconds"])
                        print(f"round {r + 1}: {n:5d} images, {precision}, {state:5s} cache: {got['seconds']:6.1f} s "
                              f"= {ref / got['seconds']:.2f}x the reference loop ({ref:.1f} s); startup "
                              f"{got['startup_seconds']:.2f} s, setup {got['setup_seconds']:.2f} s, rows "
                              f"{got['rows_per_second']:.1f}/s, {got['backend']}",
                              flush=True)
        print("\nmedian ratio against the reference loop (whole process, same images):")
        for key, values in results.items():
            if "reference" not in key:
                print(f"  {key:24s} {statistics.median(values):.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
