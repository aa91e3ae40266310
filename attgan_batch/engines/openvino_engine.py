"""The default CPU engine: OpenVINO over the generator's graph built in memory, checked once per checkpoint.

Every run builds the graph from the loaded weights (:mod:`.openvino_graph`, ~0.2 s for the
default-width 128 px generator) and compiles it (~0.3 s). The first run of a checkpoint, precision
and OpenVINO version also compares the engine with PyTorch fp32 on seeded inputs and records the
result in the engines cache as ``<sha256[:16]>/openvino-<precision>.json``; later runs find a fresh
record and skip the comparison. A failed comparison is recorded too, so the fallback is immediate.

What is deliberately not cached (measured by ``benchmarks/engine_prep.py``, default-width 128 px
generator): an ONNX file (writing, checking, hashing and reading back its 321 MB took the first run
1.40 s against 0.66 s for this route, and a later run still pays ~0.3 s to hash and read it) and
OpenVINO's compiled model (``CACHE_DIR``: a first compile took 0.84 s instead of 0.36 s, writing a
322 MB blob, and a repeat 0.25 s: a first run would lose more than every later one gains).

Two processes starting on the same new checkpoint each build their own engine (an engine lives in
its process); one checks it while the other waits on the checkpoint folder's build lock and then
reuses that check. The record is written atomically: a reader sees one whole record or none.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..atomic import write_atomic
from ..model import LoadedCheckpoint
from .artifacts import checkpoint_dir, checkpoint_source
from .cache import build_lock
from .export import PARITY_BATCH, TOLERANCE, Parity, ParityError, compare, parity_inputs, reference_outputs
from .gemm_layers import GRAPH_FORM
from .openvino_backend import OpenVinoBackend, import_openvino

SCHEMA = 1
Log = Callable[[str], Any]


def record_path(engines_dir: str | Path, checkpoint_sha256: str, precision: str) -> Path:
    return checkpoint_dir(engines_dir, checkpoint_sha256) / f"openvino-{precision}.json"


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def record_diffs(record: dict[str, Any] | None, *, checkpoint_sha256: str, precision: str, image_size: int,
                 openvino_version: str) -> list[str]:
    """Why a parity record does not vouch for the engine this run builds ([] when it does)."""
    if record is None:
        return ["no parity record yet"]
    wanted = {"schema": SCHEMA, "checkpoint_sha256": checkpoint_sha256, "precision": precision,
              "image_size": image_size, "graph": GRAPH_FORM, "openvino": openvino_version}
    return [f"{key}: recorded {record.get(key)!r}, now {value!r}" for key, value in wanted.items()
            if record.get(key) != value]


def check_engine(backend: OpenVinoBackend, loaded: LoadedCheckpoint, precision: str) -> Parity:
    """Max |engine - PyTorch fp32| on the export's seeded inputs, within ``precision``'s tolerance."""
    s = loaded.settings
    inputs = parity_inputs(s.img_size, s.n_attrs, PARITY_BATCH, n_style=s.n_style)
    return compare(backend.infer(*inputs), reference_outputs(loaded.generator, inputs), TOLERANCE[precision],
                   f"pytorch fp32 (seeded inputs), openvino {precision}", PARITY_BATCH)


def prepare_openvino(loaded: LoadedCheckpoint, engines_dir: str | Path, *, precision: str = "fp32",
                     streams: int | None = None, threads: int | None = None, log: Log = print) -> OpenVinoBackend:
    """The OpenVINO engine for ``loaded``, built in memory and proven against PyTorch (once per checkpoint).

    ``precision``: fp32, bf16 (OpenVINO's bf16 inference over the fp32 graph) or fp16 (an fp16 graph).
    Raises WriterUnsupported when the graph cannot be built here (the caller then uses an ONNX export),
    ParityError when the engine disagrees with PyTorch, EngineUnavailable when OpenVINO cannot run it.
    """
    from .openvino_graph import build_openvino_model

    s = loaded.settings
    version = import_openvino().get_version()
    path = record_path(engines_dir, loaded.sha256, precision)

    def stale(record: dict[str, Any] | None) -> list[str]:
        return record_diffs(record, checkpoint_sha256=loaded.sha256, precision=precision, image_size=s.img_size,
                            openvino_version=version)

    record = read_record(path)
    if not stale(record) and record["parity"].get("status") == "failed":
        _refuse(record["parity"], precision)  # known bad: fall back at once, without building
    if stale(record):
        log(f"first run of this checkpoint with OpenVINO {precision}: building its engine and checking it against "
            f"PyTorch (about a second; later runs reuse the check recorded in {path.parent})")
    start = time.perf_counter()
    graph_precision = "fp16" if precision == "fp16" else "fp32"
    model = build_openvino_model(loaded.generator, img_size=s.img_size, n_attrs=s.n_attrs, precision=graph_precision)
    meta = {"precision": graph_precision, "exporter": "direct (in memory)", "graph": GRAPH_FORM}
    backend = OpenVinoBackend(model=model, streams=streams, threads=threads, meta=meta, precision=precision)
    del model  # the compiled engine holds its own copy of the weights
    try:  # one process checks; one starting at the same time waits here, then reuses the record
        with build_lock(path.parent):
            record = read_record(path)
            if stale(record):
                record = _check_and_record(backend, loaded, precision, path, version, time.perf_counter() - start)
    except OSError as exc:  # a read-only cache still runs, checking every time
        log(f"cannot record the engine check under {path.parent} ({exc.strerror or exc}); checking on every run")
        record = {"parity": check_engine(backend, loaded, precision).to_dict()}
    backend.parity = record["parity"]
    if backend.parity.get("status") == "failed":
        _refuse(backend.parity, precision)
    return backend


def _check_and_record(backend: OpenVinoBackend, loaded: LoadedCheckpoint, precision: str, path: Path,
                      version: str, build_seconds: float) -> dict[str, Any]:
    s = loaded.settings
    record = {
        "schema": SCHEMA, "target": "openvino", "checkpoint_sha256": loaded.sha256,
        "checkpoint_path": str(checkpoint_source(loaded).resolve()), "precision": precision, "image_size": s.img_size,
        "n_attrs": s.n_attrs, "n_style": s.n_style, "graph": GRAPH_FORM, "openvino": version,
        "parity": check_engine(backend, loaded, precision).to_dict(), "build_seconds": round(build_seconds, 2),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _refuse(parity: dict[str, Any], precision: str) -> None:
    raise ParityError(f"OpenVINO's {precision} engine disagrees with PyTorch fp32 (max abs diff "
                      f"{parity.get('max_abs_diff'):.3g} > {parity.get('tolerance'):g}); not using it"
                      + (". Use --precision fp32." if precision != "fp32" else "."))
