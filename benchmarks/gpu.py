"""GPU throughput of the generator and of `run`, as one short script for a machine with an NVIDIA GPU.

One call measures (with torch only; TensorRT plans are measured where TensorRT is installed):

  1. torch CUDA eager through TorchBackend, as `run --backend torch --device cuda` uses it
     (channels_last; fp16 and bf16 = CUDA autocast), for the 128 and 384 px default-width generators
     (random init) at batch 1, 8 and 32: images/s including the host<->GPU copies, fp16 and bf16 as
     ratios against fp32 at the same batch, timed interleaved in this process, and the largest
     difference of their outputs from fp32's (on [-1, 1]; one 8-bit level is 7.8e-3).
  2. The full `run` pipeline end to end (decode -> generator -> PNG encode -> journal -> report),
     128 px, batch 32, fp32, fp16 and bf16 on the GPU, interleaved rounds: images/s, each against fp32.

On the GPU machine, from the repository root (needs torch with CUDA, click, rich and pillow):

    PYTHONPATH=. PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py --json $OUT/gpu.json

It takes a few minutes on an H100. Smoke run on any CPU (where "fp16" and "bf16" run fp32: autocast
is CUDA only in TorchBackend): python benchmarks/gpu.py --device cpu --sizes 64 --batches 1 2 --repeats 1
--pipeline-images 8 --pipeline-rounds 1. PyTorch's defaults stand: cuDNN may use TF32 for "fp32"
convolutions on Ampere and newer; the JSON records the setting.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import default_checkpoint, face_images, interleaved_times, manifest  # noqa: E402

from attgan_batch.editor import Editor  # noqa: E402
from attgan_batch.engines import TorchBackend  # noqa: E402
from attgan_batch.model import AttGANSettings, Generator, load_checkpoint  # noqa: E402
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest  # noqa: E402

PRECISIONS = ("fp32", "fp16", "bf16")
REDUCED = PRECISIONS[1:]


def measure_generators(device: torch.device, sizes: list[int], batches: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        torch.manual_seed(0)
        generator = Generator.from_settings(AttGANSettings(img_size=size)).eval().requires_grad_(False)
        backends = {p: TorchBackend(copy.deepcopy(generator), device=device, precision=p) for p in PRECISIONS}
        for batch in batches:
            x = torch.rand(batch, 3, size, size) * 2 - 1
            a = (torch.rand(batch, generator.n_attrs) > 0.5).float() - 0.5
            # infer returns CPU tensors, so each timed call ends when the GPU's work is done
            times = interleaved_times({p: (lambda b=b: b.infer(x, a)) for p, b in backends.items()}, repeats)
            row = {"img_size": size, "batch": batch}
            for p, ts in times.items():
                row[f"{p}_images_per_second"] = batch / statistics.median(ts)
            outputs = {p: b.infer(x, a) for p, b in backends.items()}
            for p in REDUCED:
                row[f"{p}_vs_fp32"] = statistics.median(f / h for f, h in zip(times["fp32"], times[p]))
                row[f"{p}_max_abs_diff"] = float((outputs[p] - outputs["fp32"]).abs().max())
            if device.type == "cuda":
                row["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
            print(f"{size} px batch {batch:3d}: fp32 {row['fp32_images_per_second']:8.1f} img/s | " + " | ".join(
                f"{p} {row[f'{p}_images_per_second']:8.1f} img/s (x{row[f'{p}_vs_fp32']:.2f} fp32, max diff "
                f"{row[f'{p}_max_abs_diff']:.1e})" for p in REDUCED), file=sys.stderr)
            rows.append(row)
        del backends
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def measure_pipeline(device: torch.device, work: Path, images: int, batch: int, rounds: int) -> dict[str, Any]:
    ckpt = default_checkpoint(work / "ckpt")
    path = manifest(work / "m.csv", face_images(work / "images", min(images, 64)), images)
    loaded = load_checkpoint(ckpt)
    options = {p: RunOptions(out_dir=work / f"out-{p}", checkpoint=ckpt, force=True, log=lambda message: None,
                             engine=EngineOptions(batch_size=batch, device=str(device), backend="torch", precision=p))
               for p in PRECISIONS}
    editors = {p: Editor(loaded, TorchBackend(copy.deepcopy(loaded.generator), device=device, precision=p))
               for p in PRECISIONS}
    fns = {p: (lambda p=p: run_manifest(path, options[p], editor=editors[p])) for p in PRECISIONS}
    times = interleaved_times(fns, rounds)
    result = {"images": images, "batch": batch, "rounds": rounds,
              "images_per_second": {p: images / statistics.median(ts) for p, ts in times.items()},
              **{f"{p}_vs_fp32": statistics.median(f / h for f, h in zip(times["fp32"], times[p])) for p in REDUCED}}
    print(f"run pipeline, {images} rows, batch {batch}: " + " | ".join(
        f"{p} {v:.1f} img/s" for p, v in result["images_per_second"].items())
        + "".join(f" ({p} x{result[f'{p}_vs_fp32']:.2f} fp32)" for p in REDUCED), file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 384])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per contender and batch")
    parser.add_argument("--pipeline-images", type=int, default=512)
    parser.add_argument("--pipeline-batch", type=int, default=32)
    parser.add_argument("--pipeline-rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU visible to torch: run this on a GPU machine, or pass --device cpu for a smoke run")
    results: dict[str, Any] = {"torch": torch.__version__, "device": str(device),
                               "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        results["gpu"] = {"name": props.name, "compute_capability": f"{props.major}.{props.minor}",
                          "memory_gib": round(props.total_memory / 2**30, 1)}
    print(json.dumps(results), file=sys.stderr)
    results["generator"] = measure_generators(device, args.sizes, args.batches, args.repeats)
    with tempfile.TemporaryDirectory(prefix="attgan-gpu-") as tmp:
        results["pipeline"] = measure_pipeline(device, Path(tmp), args.pipeline_images, args.pipeline_batch,
                                               args.pipeline_rounds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
