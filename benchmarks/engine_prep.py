"""Engine preparation for a new checkpoint: what a first `run` does before its first image.

Contenders, each timed from the loaded checkpoint to an engine ready to run (in this one process,
interleaved A B C A B C ..., each into a fresh engines folder, so load on a shared machine hits all
alike; compare the ratios, not the seconds):

  onnx file      the ONNX route: write the file with the direct writer, check its parity (ONNX Runtime
                 session, seeded batch), write the sidecar (hashing the file), read and compile it
                 with OpenVINO; what `--backend onnxruntime` and an explicit `--engine` start from
  in memory      the default CPU engine: build the graph in memory, compile it, check it against
                 PyTorch and record the check (engines.openvino_engine)
  in memory, warm  the same on a later run: the recorded check is reused
  torch exporter (with --torch-exporter) the ONNX route with torch's dynamo / legacy exporters

    python benchmarks/engine_prep.py                     # default-width 128 px generator, 3 rounds
    python benchmarks/engine_prep.py --compile-cache 3   # OpenVINO's CACHE_DIR: first and repeat compiles
    python benchmarks/engine_prep.py --rounds 0 --inference 7   # do the two engines run equally fast?

``--compile-cache N`` compiles the in-memory graph without a compiled-model cache, into an empty
CACHE_DIR (a first run) and from a filled one (a repeat run), N interleaved rounds. ``--inference
N`` times OpenVINO over the ONNX file against OpenVINO over the in-memory graph, the way `run`
drives it (one batch of 8 per stream), N interleaved rounds, as the median of per-round ratios.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import default_checkpoint, interleaved_times  # noqa: E402

from attgan_batch.engines import artifacts  # noqa: E402
from attgan_batch.engines.openvino_backend import OpenVinoBackend, compile_config, tanh_as_sigmoid  # noqa: E402
from attgan_batch.engines.openvino_engine import prepare_openvino  # noqa: E402
from attgan_batch.engines.openvino_graph import build_openvino_model  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

TORCH_EXPORTERS = ("dynamo", "legacy")


def quiet(_message: str) -> None:
    pass


def prepare_file(loaded, engines: Path, exporters: tuple[str, ...] = ("direct",)) -> float:
    """Seconds of export + parity + sidecar + OpenVINO read and compile, into a fresh engines folder."""
    real = artifacts.export_onnx

    def export_with(*args, **kwargs):
        return real(*args, exporters=exporters, **kwargs)

    artifacts.export_onnx = export_with
    try:
        t0 = time.perf_counter()
        art = artifacts.ensure_onnx(loaded, engines, log=quiet)
        OpenVinoBackend(art.path, streams=None, meta=art.meta)
        seconds = time.perf_counter() - t0
    finally:
        artifacts.export_onnx = real
    assert art.built and art.meta["exporter"] == exporters[0] and art.meta["parity"]["status"] == "passed"
    return seconds


def prepare_memory(loaded, engines: Path) -> float:
    t0 = time.perf_counter()
    backend = prepare_openvino(loaded, engines, log=quiet)
    seconds = time.perf_counter() - t0
    assert backend.parity["status"] == "passed"
    return seconds


def prepare_rounds(loaded, work: Path, rounds: int, torch_exporter: bool) -> None:
    contenders = {
        "onnx file": lambda r: prepare_file(loaded, work / f"file-{r}"),
        "in memory": lambda r: prepare_memory(loaded, work / f"memory-{r}"),
        "in memory, warm": lambda r: prepare_memory(loaded, work / "memory-warm"),
    }
    if torch_exporter:
        contenders["torch exporter"] = lambda r: prepare_file(loaded, work / f"torch-{r}", TORCH_EXPORTERS)
    prepare_memory(loaded, work / "memory-warm")  # first-use costs (OpenVINO plugin) for none, and the record
    prepare_file(loaded, work / "warmup")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(rounds):
        for name, run in contenders.items():
            times[name].append(run(r))
        for folder in work.glob("file-*"):  # 321 MB each at default width
            shutil.rmtree(folder, ignore_errors=True)
        print(f"round {r + 1}: " + ", ".join(f"{name} {ts[-1]:.2f} s" for name, ts in times.items()), flush=True)
    print(f"\nengine preparation, median of {rounds} interleaved rounds in one process (vs the onnx file route):")
    base = times["onnx file"]
    for name, ts in times.items():
        ratios = [b / t for b, t in zip(base, ts)]
        print(f"  {name:16s} {statistics.median(ts):6.2f} s   x{statistics.median(ratios):.2f} faster "
              f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")


def compile_cache_rounds(loaded, work: Path, rounds: int) -> None:
    """OpenVINO's compiled-model cache (CACHE_DIR) for the in-memory graph: first and repeat compiles."""
    import openvino as ov

    s = loaded.settings

    def compile_with(cache: Path | None) -> float:
        model = tanh_as_sigmoid(build_openvino_model(loaded.generator, img_size=s.img_size, n_attrs=s.n_attrs))
        core = ov.Core()
        if cache is not None:
            core.set_property({"CACHE_DIR": str(cache)})
        t0 = time.perf_counter()
        core.compile_model(model, "CPU", compile_config(2, None))
        return time.perf_counter() - t0

    compile_with(None)
    compile_with(work / "cache-warm")
    times: dict[str, list[float]] = {"no cache": [], "empty CACHE_DIR": [], "filled CACHE_DIR": []}
    for r in range(rounds):
        times["no cache"].append(compile_with(None))
        times["empty CACHE_DIR"].append(compile_with(work / f"cache-{r}"))
        times["filled CACHE_DIR"].append(compile_with(work / "cache-warm"))
        shutil.rmtree(work / f"cache-{r}", ignore_errors=True)
    size = sum(f.stat().st_size for f in (work / "cache-warm").rglob("*") if f.is_file())
    print(f"\nOpenVINO compile of the in-memory graph, median of {rounds} interleaved rounds "
          f"(the cache holds {size / 1e6:.0f} MB per checkpoint):")
    for name, ts in times.items():
        ratios = [n / t for n, t in zip(times["no cache"], ts)]
        print(f"  {name:17s} {statistics.median(ts):5.2f} s   x{statistics.median(ratios):.2f} the speed of no cache")


def compare_inference(loaded, work: Path, rounds: int, batch: int = 8) -> None:
    """Speed of OpenVINO over the in-memory graph against OpenVINO over the ONNX file of the same graph."""
    import torch
    from graph_forms import all_lanes

    s = loaded.settings
    art = artifacts.ensure_onnx(loaded, work / "inference", log=quiet)
    engines = {"onnx file": OpenVinoBackend(art.path), "in memory": prepare_openvino(loaded, work / "inference", log=quiet)}
    torch.manual_seed(0)
    images = torch.rand(batch, 3, s.img_size, s.img_size) * 2 - 1
    attrs = (torch.rand(batch, s.n_attrs) > 0.5).float() - 0.5
    times = interleaved_times({name: all_lanes(engine, images, attrs) for name, engine in engines.items()}, rounds)
    ratios = [f / m for f, m in zip(times["onnx file"], times["in memory"])]
    print(f"\ninference, batch {batch} per lane, {rounds} interleaved rounds: the in-memory engine runs "
          f"x{statistics.median(ratios):.3f} the speed of the ONNX file's (per round {', '.join(f'{r:.2f}' for r in ratios)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--torch-exporter", action="store_true", help="also time torch's exporters (~30 s a round)")
    parser.add_argument("--compile-cache", type=int, default=0, metavar="N")
    parser.add_argument("--inference", type=int, default=0, metavar="N")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="engine_prep_"))
    try:
        loaded = load_checkpoint(default_checkpoint(work / "ckpt", img_size=args.img_size))
        if args.rounds:
            prepare_rounds(loaded, work, args.rounds, args.torch_exporter)
        if args.compile_cache:
            compile_cache_rounds(loaded, work, args.compile_cache)
        if args.inference:
            compare_inference(loaded, work, args.inference)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
