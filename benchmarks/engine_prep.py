"""Engine preparation for a new checkpoint: torch's dynamo exporter vs the direct ONNX writer.

What is timed is what a first `run --backend openvino` does before its first image: write the ONNX
file, check its parity against PyTorch (ONNX Runtime session, seeded batch), write the sidecar, and
compile it with OpenVINO. Both contenders run in this one process, interleaved (old, new, old, new
...), each into a fresh engines folder, so load on a shared machine hits both alike; report the
ratio, not the seconds.

    python benchmarks/engine_prep.py                 # default-width 128 px generator, 2 rounds
    python benchmarks/engine_prep.py --rounds 3 --graph plain
    python benchmarks/engine_prep.py --rounds 0 --inference 7   # only: do the two files run equally fast?

``--inference N`` then times the two exported files themselves (OpenVINO the way `run` drives it, one
batch of 8 per stream, and ONNX Runtime), N interleaved rounds, as the median of per-round ratios.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import default_checkpoint, interleaved_times  # noqa: E402

from attgan_batch.engines import artifacts  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

OLD = ("dynamo", "legacy")  # the exporters every export used before the direct writer
NEW = ("direct", "dynamo", "legacy")


def prepare(loaded, engines: Path, exporters: tuple[str, ...], graph: str) -> dict[str, float]:
    """Seconds of export + parity + sidecar, and of the OpenVINO compile, for one fresh engines folder."""
    real = artifacts.export_onnx

    def export_with(*args, **kwargs):
        return real(*args, exporters=exporters, **kwargs)

    artifacts.export_onnx = export_with
    try:
        t0 = time.perf_counter()
        art = artifacts.ensure_onnx(loaded, engines, graph=graph, log=lambda _m: None)
        t1 = time.perf_counter()
    finally:
        artifacts.export_onnx = real
    assert art.built and art.meta["exporter"] == exporters[0], art.meta.get("notes")
    from attgan_batch.engines.openvino_backend import OpenVinoBackend

    OpenVinoBackend(art.path, streams=None)
    t2 = time.perf_counter()
    return {"export": t1 - t0, "compile": t2 - t1, "total": t2 - t0,
            "parity": float(art.meta["parity"]["max_abs_diff"])}


def compare_inference(loaded, work: Path, graph: str, rounds: int, batch: int = 8) -> None:
    """Speed of the direct writer's file against torch's export of the same graph form."""
    import torch
    from graph_forms import all_lanes

    from attgan_batch.engines.export import export_onnx
    from attgan_batch.engines.onnx_backend import OnnxRuntimeBackend
    from attgan_batch.engines.openvino_backend import OpenVinoBackend, openvino_available

    s = loaded.settings
    files = {name: export_onnx(loaded.generator, work / f"inference-{name}.onnx", img_size=s.img_size,
                               n_attrs=s.n_attrs, graph=graph, exporters=exporters).path
             for name, exporters in (("torch exporter", OLD), ("direct writer", ("direct",)))}
    torch.manual_seed(0)
    images = torch.rand(batch, 3, s.img_size, s.img_size) * 2 - 1
    attrs = (torch.rand(batch, s.n_attrs) > 0.5).float() - 0.5
    engines = [OpenVinoBackend, OnnxRuntimeBackend] if openvino_available() else [OnnxRuntimeBackend]
    print(f"inference, {graph} graph, batch {batch} per lane, {rounds} interleaved rounds")
    for engine in engines:
        times = interleaved_times({name: all_lanes(engine(path), images, attrs) for name, path in files.items()},
                                  rounds)
        ratios = [old / new for old, new in zip(times["torch exporter"], times["direct writer"])]
        print(f"  {engine.name}: direct writer's file x{statistics.median(ratios):.3f} the speed of torch's "
              f"(per round {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--graph", choices=("cpu", "plain"), default="cpu")
    parser.add_argument("--inference", type=int, default=0, metavar="N", help="also time inference, N rounds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="engine_prep_"))
    loaded = load_checkpoint(default_checkpoint(work / "ckpt", img_size=args.img_size))
    if args.inference:
        compare_inference(loaded, work, args.graph, args.inference)
    if args.rounds < 1:
        return
    results: dict[str, list[dict[str, float]]] = {"torch exporter": [], "direct writer": []}
    prepare(loaded, work / "warmup", NEW, args.graph)  # first-use costs (imports, OpenVINO plugin) for neither
    for r in range(args.rounds):
        for name, exporters in (("torch exporter", OLD), ("direct writer", NEW)):
            results[name].append(prepare(loaded, work / f"{name.split()[0]}-{r}", exporters, args.graph))
            print(f"round {r} {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in results[name][-1].items()),
                  flush=True)
    med = {name: {k: statistics.median(x[k] for x in rows) for k in rows[0]} for name, rows in results.items()}
    old, new = med["torch exporter"], med["direct writer"]
    print(f"\n{args.img_size} px default-width generator, {args.graph} graph, median of {args.rounds} interleaved "
          "rounds in one process")
    for name, m in med.items():
        print(f"  {name:15s} export+parity {m['export']:6.2f} s  OpenVINO compile {m['compile']:5.2f} s  "
              f"total {m['total']:6.2f} s  parity {m['parity']:.2g}")
    print(f"  ratio torch exporter / direct writer: total {old['total'] / new['total']:.1f}x, "
          f"export+parity {old['export'] / new['export']:.1f}x")


if __name__ == "__main__":
    main()
