"""Throughput of `run` vs a reference-style loop and the bare batched generator; peak memory.

Same randomly initialised 128 px default-width generator, same 64 images, one process:
  (a) reference-style: the reference test script's job, one image at a time: open and preprocess
      the file, G forward (eager, no_grad), save the output PNG with torchvision's save_image.
      Also printed: (a0) the same loop without the file I/O (tensors in memory).
  (b) the pure batched generator (the same backend `run` uses), tensors already in memory
  (c) the full `run` pipeline: read manifest, decode + preprocess, batch, infer, encode PNGs, report
(a) and (c) do the same work (files in, PNGs out). Prints images/s and the ratios (c)/(a) and
(c)/(b), then the peak RSS of separate `run` processes on a 64-row and a 640-row manifest. Targets
on a 2-core machine: (c)/(a) >= 3, (c)/(b) >= 0.85, RSS ratio <= 1.2.

    python benchmarks/run_throughput.py [--batch-size 32] [--images 64] [--backend auto|torch]
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
from _common import default_checkpoint, face_images, interleaved, manifest  # noqa: E402

from attgan_batch.attributes import parse_edit, parse_vector, plan_edit  # noqa: E402
from attgan_batch.data.images import load_rgb, preprocess  # noqa: E402
from attgan_batch.editor import Editor  # noqa: E402
from attgan_batch.model import DEFAULT_ATTRS, load_checkpoint  # noqa: E402
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest  # noqa: E402

RSS_CHILD = r"""
import json, resource, sys
from pathlib import Path
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest
s = run_manifest(sys.argv[1], RunOptions(out_dir=Path(sys.argv[2]), checkpoint=Path(sys.argv[3]), force=True,
                                         engine=EngineOptions(batch_size=int(sys.argv[4]), backend=sys.argv[5])))
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ok": s.ok}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backend", default="auto", help="backend for (b) and (c): auto (run's default) or torch")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (interleaved a, b, c)")
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="attgan-bench-"))
    try:
        ckpt = default_checkpoint(work / "ckpt")
        images = face_images(work / "images", args.images)
        path = manifest(work / "m64.csv", images, args.images)
        loaded = load_checkpoint(ckpt)
        g = loaded.generator
        source = parse_vector("0,1,1,0,0,0,0,1,0,0,1,0,1", DEFAULT_ATTRS)
        scaled = torch.tensor(plan_edit(source, parse_edit("Blond_Hair=1", DEFAULT_ATTRS), DEFAULT_ATTRS).scaled)
        xs = torch.stack([preprocess(load_rgb(p), 128) for p in images])
        attrs = scaled.expand(len(xs), -1).contiguous()
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
              f"{len(xs)} images, 128 px default-width generator ({sum(p.numel() for p in g.parameters())/1e6:.2f}M params)")

        import torchvision.utils as vutils

        ref_out = work / "ref-out"
        ref_out.mkdir()

        def reference_loop():  # the reference test.py's per-image work, minus its extra grid columns
            with torch.no_grad():
                for i, image in enumerate(images):
                    x = preprocess(load_rgb(image), 128)[None]
                    y = g(x, attrs[i:i + 1])
                    vutils.save_image((y + 1) / 2, ref_out / f"{i}.png")

        def reference_loop_no_io():
            with torch.no_grad():
                for i in range(len(xs)):
                    g(xs[i:i + 1], attrs[i:i + 1])

        from attgan_batch.pipeline import make_backend
        options = RunOptions(out_dir=work / "out", checkpoint=ckpt, force=True,
                             engine=EngineOptions(batch_size=args.batch_size, backend=args.backend,
                                                  engines_dir=work / "engines"))
        backend = make_backend(options, load_checkpoint(ckpt))
        # the checkpoint is loaded once, as a long-running job would; (c) times the pipeline's own work
        editor = Editor(load_checkpoint(ckpt), backend)

        def batched():
            for i in range(0, len(xs), args.batch_size):
                backend.infer(xs[i:i + args.batch_size], attrs[i:i + args.batch_size])

        def pipeline():
            summary = run_manifest(path, options, editor=editor)
            assert summary.ok == len(xs), summary.to_dict()

        times = interleaved({"a": reference_loop, "a0": reference_loop_no_io, "b": batched, "c": pipeline},
                            repeats=args.repeats)
        t_a, t_b, t_c = times["a"], times["b"], times["c"]
        n = len(xs)
        print(f"(a) reference loop      {n / t_a:7.2f} images/s   (files in, PNGs out)")
        print(f"(a0) same, no file I/O  {n / times['a0']:7.2f} images/s   ((c)/(a0) = {times['a0'] / t_c:.2f})")
        print(f"(b) batched generator   {n / t_b:7.2f} images/s   [{backend.describe()['backend']}]")
        print(f"(c) run pipeline        {n / t_c:7.2f} images/s")
        print(f"ratio (c)/(a) = {t_a / t_c:.2f}   (target >= 3)")
        print(f"ratio (c)/(b) = {t_b / t_c:.2f}   (target >= 0.85)")

        if not args.skip_rss:
            rss = {}
            for rows in (64, 640):
                m = manifest(work / f"rss{rows}.csv", images, rows)
                out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(m), str(work / f"rss-out{rows}"), str(ckpt),
                                      str(args.batch_size), args.backend], capture_output=True, text=True, check=True)
                rss[rows] = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"peak RSS, {rows:4d}-row manifest: {rss[rows]['rss_mb']:.0f} MB ({rss[rows]['ok']} ok)")
            print(f"RSS ratio 640/64 = {rss[640]['rss_mb'] / rss[64]['rss_mb']:.3f}   (target <= 1.2)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
