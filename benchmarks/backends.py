"""CPU throughput of the inference backends, as ratios against eager PyTorch measured in the same process.

The 128 px default-width generator (``Generator()``: 43M parameters, random init, eval) at batch 1, 8
and 32: torch eager, torch channels_last, torch compiled (`--compile`: torch.compile with freezing,
compiled once per batch size before timing; all through TorchBackend, as `run` uses them), ONNX
Runtime and OpenVINO over the fp32 export `run` uses (through their backends; one call per batch, so
OpenVINO splits it over its streams). One warm-up call, then the median of a few timed calls.
Shared machines are noisy (+-20%): compare ratios, not absolute numbers, across runs.

With --pipeline, the full `run` pipeline (see measure_pipeline_auto) with auto, onnxruntime and
torch channels_last against eager torch, in interleaved rounds.

    python benchmarks/backends.py [--batches 1 8 32] [--repeats 3] [--json out.json]
                                  [--pipeline [--pipeline-images 128] [--pipeline-rounds 5] [--skip-backends]]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from attgan_batch.engines import TorchBackend
from attgan_batch.engines.export import export_onnx
from attgan_batch.engines.onnx_backend import OnnxRuntimeBackend, cpu_count
from attgan_batch.engines.openvino_backend import OpenVinoBackend, openvino_available
from attgan_batch.model import Generator


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: allocator, kernels selection, ORT arena
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_backends(batches: list[int], repeats: int, work: Path) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    generator = Generator().eval().requires_grad_(False)
    onnx = export_onnx(generator, work / "generator-fp32.onnx", img_size=128, n_attrs=13, precision="fp32")
    print(f"exported {onnx.path.name} with {onnx.exporter} in {onnx.seconds:.1f} s, "
          f"parity max abs diff {onnx.parity.max_abs_diff:.2g}", file=sys.stderr)
    backends = {
        "torch eager": TorchBackend(generator, device="cpu", channels_last=False),
        "torch channels_last": TorchBackend(_copy(generator), device="cpu", channels_last=True),
        "onnxruntime": OnnxRuntimeBackend(onnx.path),
    }
    openvino = {}  # per batch size: one stream for batch 1, one per core otherwise (as `run` picks)
    if openvino_available():
        for batch in batches:
            openvino[batch] = OpenVinoBackend(onnx.path, streams=1 if batch == 1 else None)
    rows = []
    for batch in batches:
        x = torch.rand(batch, 3, 128, 128) * 2 - 1
        a = torch.rand(batch, 13) - 0.5
        row: dict[str, Any] = {"batch": batch}
        backends["torch compiled"] = TorchBackend(_copy(generator), device="cpu", compile=True, batch_size=batch,
                                                  img_size=128)
        row["compile_seconds"] = round(backends["torch compiled"].compile_seconds, 1)
        if batch in openvino:
            backends["openvino"] = openvino[batch]
        for name, backend in backends.items():
            seconds = median_seconds(lambda: backend.infer(x, a), repeats)
            row[name] = batch / seconds
        row["ratios"] = {name: row[name] / row["torch eager"] for name in backends}
        rows.append(row)
        print(_format_row(row, list(backends)), file=sys.stderr)
    return rows


def _copy(generator: Generator) -> Generator:
    clone = Generator().eval().requires_grad_(False)
    clone.load_state_dict(generator.state_dict())
    return clone


def _format_row(row: dict[str, Any], names: list[str]) -> str:
    cells = [f"{name} {row[name]:6.2f} img/s (x{row['ratios'][name]:.2f})" for name in names]
    return f"batch {row['batch']:>3}: " + " | ".join(cells)


# --------------------------------------------------------------------------------------------------
# The full `run` pipeline with the auto backend (--pipeline).
# --------------------------------------------------------------------------------------------------
def measure_pipeline_auto(work: Path, images: int = 128, batch_size: int = 8, repeats: int = 5,
                          compiled: bool = False) -> dict[str, Any]:
    """The full `run` pipeline (decode -> infer -> encode -> report) with the auto backend vs the same
    pipeline on eager torch (plain NCHW), on `--backend torch` (channels_last) and on `--backend
    onnxruntime`, timed interleaved in this process: each round runs every contender once, and the
    ratio against eager is taken per round (median, min and max over the rounds are printed). The
    checkpoint is loaded and the ONNX file exported before timing."""
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import default_checkpoint, face_images, interleaved_times, manifest

    from attgan_batch.editor import Editor
    from attgan_batch.engines import TorchBackend, select_backend
    from attgan_batch.model import load_checkpoint
    from attgan_batch.pipeline import EngineOptions, RunOptions, make_backend, run_manifest

    ckpt = default_checkpoint(work / "ckpt")
    path = manifest(work / "m.csv", face_images(work / "images", min(images, 64)), images)
    loaded = load_checkpoint(ckpt)
    engine = EngineOptions(batch_size=batch_size, backend="auto", engines_dir=work / "engines")
    options = RunOptions(out_dir=work / "out", checkpoint=ckpt, force=True, log=lambda message: None, engine=engine)
    editors = {
        "eager": Editor(loaded, TorchBackend(loaded.generator, "cpu", channels_last=False)),
        "torch_channels_last": Editor(loaded, TorchBackend(load_checkpoint(ckpt).generator, "cpu")),
        "auto": Editor(loaded, make_backend(options, loaded)),
        "onnxruntime": Editor(loaded, select_backend(loaded, dataclasses.replace(engine, backend="onnxruntime"),
                                                     log=options.log)),
    }
    if compiled:
        editors["auto_compile"] = Editor(loaded, make_backend(dataclasses.replace(options, engine=dataclasses.replace(engine, compile=True)),
                                                              load_checkpoint(ckpt)))

    def runner(editor):
        return lambda: run_manifest(path, options, editor=editor)

    times = interleaved_times({name: runner(editor) for name, editor in editors.items()}, repeats=repeats)
    ratios = {name: [e / t for e, t in zip(times["eager"], ts)] for name, ts in times.items()}
    result = {"images": images, "batch_size": batch_size, "rounds": repeats,
              "auto_backend": editors["auto"].backend.describe()["backend"],
              "images_per_second": {name: images / statistics.median(ts) for name, ts in times.items()},
              "ratio_vs_eager": {name: statistics.median(r) for name, r in ratios.items()},
              "ratio_min_max": {name: [min(r), max(r)] for name, r in ratios.items()}}
    for name, r in ratios.items():
        print(f"run pipeline, batch {batch_size}, {images} images: {name:20s} "
              f"{result['images_per_second'][name]:6.2f} img/s  x{statistics.median(r):.2f} eager "
              f"(rounds {min(r):.2f}-{max(r):.2f})", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--pipeline", action="store_true", help="also time the full run pipeline (auto backend)")
    parser.add_argument("--pipeline-images", type=int, default=128, help="manifest rows per pipeline run")
    parser.add_argument("--pipeline-rounds", type=int, default=5, help="interleaved rounds of pipeline runs")
    parser.add_argument("--compiled-pipeline", action="store_true",
                        help="also time the pipeline with --compile (adds ~20 s of compilation)")
    parser.add_argument("--skip-backends", action="store_true", help="only the pipeline (with --pipeline)")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {cpu_count()} usable CPUs",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="attgan-backends-") as tmp:
        results: dict[str, Any] = {}
        if not args.skip_backends:
            results["backends"] = measure_backends(args.batches, args.repeats, Path(tmp))
        if args.pipeline:
            results["pipeline_auto"] = measure_pipeline_auto(Path(tmp) / "pipeline", images=args.pipeline_images,
                                                             repeats=args.pipeline_rounds,
                                                             compiled=args.compiled_pipeline)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
