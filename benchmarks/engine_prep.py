"""Engine preparation for a new checkpoint: torch's dynamo exporter vs the direct ONNX writer.

What is timed is what a first `run --backend openvino` does before its first image: write the ONNX
file, check its parity against PyTorch (ONNX Runtime session, seeded batch), write the sidecar, and
compile it with OpenVINO. Both contenders run in this one process, interleaved (old, new, old, new
...), each into a fresh engines folder, so load on a shared machine hits both alike; report the
ratio, not the seconds.

    python benchmarks/engine_prep.py                 # default-width 128 px generator, 2 rounds
    python benchmarks/engine_prep.py --rounds 3 --graph plain
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import default_checkpoint  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--graph", choices=("cpu", "plain"), default="cpu")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="engine_prep_"))
    loaded = load_checkpoint(default_checkpoint(work / "ckpt", img_size=args.img_size))
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
