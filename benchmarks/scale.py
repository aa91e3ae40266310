"""Scale-out measurements: throughput of the local and Ray executors, and the driver's memory.

Every configuration runs in its own process (a fresh Ray instance each time for Ray), so the
numbers include nothing left over from another run.

throughput  the 128 px default-width generator (random weights), --rows rows of 128x128 PNGs,
            --backend torch, batch 16: `run` with --executor local (2 decode threads, torch's 2
            threads) and --executor ray with 1 and 2 CPU actors (Ray gives each actor 1 torch
            thread on this 2-CPU machine). For Ray the steady rate excludes the startup (Ray
            instance, actors, first batch), which is reported separately.
memory      the driver's peak RSS (getrusage ru_maxrss of the driver process only; Ray's workers
            are other processes) for a --memory-rows manifest vs a 1,000-row one, the whole
            pipeline end to end (every row decoded, edited, written) with a 32 px generator so
            100,000 rows run in minutes. Target: ratio <= 1.2.

    python benchmarks/scale.py [--rows 480] [--memory-rows 100000] [--memory-executors ray,local]
                               [--skip-throughput] [--skip-memory]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import default_checkpoint, face_images, manifest  # noqa: E402

from attgan_batch.model import AttGANSettings, Generator  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from attgan_batch.pipeline import EngineOptions, RunOptions, ScaleOptions, run_manifest
manifest, out, ckpt, batch, executor, workers = sys.argv[1:7]
t0 = time.perf_counter()
s = run_manifest(manifest, RunOptions(out_dir=Path(out), checkpoint=Path(ckpt), workers=int(workers), force=True,
                                      engine=EngineOptions(batch_size=int(batch), backend="torch", device="cpu"),
                                      scale=ScaleOptions(executor=executor), log=lambda m: None))
wall = time.perf_counter() - t0
d = s.to_dict()
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ok": s.ok, "rows": s.rows,
                  "images": s.images_written, "seconds": s.seconds, "wall": wall,
                  "startup": d["backend"].get("ray_startup_seconds", 0.0),
                  "images_per_second": d["throughput"]["images_per_second"]}))
"""


def tiny_checkpoint(folder: Path) -> Path:
    """A 32 px generator (8 base channels): the model is not what the memory test measures."""
    torch.manual_seed(0)
    settings = AttGANSettings(img_size=32, enc_dim=8, dec_dim=8, dis_dim=8, dis_fc_dim=16, enc_layers=3, dec_layers=3,
                              dis_layers=3)
    (folder / "checkpoint").mkdir(parents=True, exist_ok=True)
    (folder / "setting.txt").write_text(settings.to_json())
    torch.save({"G": Generator.from_settings(settings).state_dict()}, folder / "checkpoint" / "weights.1.pth")
    return folder


def run_child(path: Path, out: Path, ckpt: Path, batch: int, executor: str, workers: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out), str(ckpt), str(batch), executor,
                           str(workers)], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return result


def throughput(work: Path, rows: int, batch: int) -> None:
    ckpt = default_checkpoint(work / "ckpt128")
    images = face_images(work / "images", 32)
    path = manifest(work / f"m{rows}.csv", images, rows)
    print(f"\nthroughput: 128 px default-width generator, {rows} rows, batch {batch}, backend torch, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads available")
    for label, executor, workers in (("local", "local", 2), ("ray, 1 worker", "ray", 1), ("ray, 2 workers", "ray", 2)):
        r = run_child(path, work / "out", ckpt, batch, executor, workers)
        steady = r["images"] / (r["seconds"] - r["startup"]) if r["startup"] else r["images_per_second"]
        extra = f"   startup {r['startup']:5.1f} s (Ray instance + actors + first batch)" if r["startup"] else ""
        print(f"  {label:15s} {steady:6.2f} images/s steady, {r['images'] / r['wall']:6.2f} images/s "
              f"wall-clock incl. setup ({r['wall']:.1f} s, {r['ok']} ok){extra}")


def memory(work: Path, big: int, executors: list[str]) -> None:
    ckpt = tiny_checkpoint(work / "ckpt32")
    images = face_images(work / "images32", 8, size=48)
    print("\ndriver peak RSS, 32 px generator, every row decoded/edited/written (batch 64):")
    for executor in executors:
        workers, rss = 2, {}
        for rows in (1000, big):
            path = manifest(work / f"mem{rows}.csv", images, rows)
            r = run_child(path, work / "mem-out", ckpt, 64, executor, workers)
            rss[rows] = r["rss_mb"]
            print(f"  {executor:5s} {rows:7d} rows: {r['rss_mb']:7.1f} MB  ({r['ok']} ok in {r['wall']:.0f} s, "
                  f"{r['images'] / r['wall']:.0f} images/s wall)")
        print(f"  {executor:5s} ratio {big}/1000 = {rss[big] / rss[1000]:.3f}   (target <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-executors", default="ray,local", help="comma-separated: ray, local")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="attgan-scale-"))
    try:
        if not args.skip_throughput:
            throughput(work, args.rows, args.batch_size)
        if not args.skip_memory:
            memory(work, args.memory_rows, args.memory_executors.split(","))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
