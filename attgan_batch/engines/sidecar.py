"""The JSON sidecar kept beside every engine artefact, and the check that refuses a stale one.

Why: a TensorRT plan runs only on the TensorRT version and GPU architecture that built it, and any
artefact silently goes wrong when the checkpoint changes. The sidecar records what an artefact was
built from and for; :func:`check_staleness` names each field that no longer matches and gives the
exact command that rebuilds it.
"""
from __future__ import annotations

import importlib.metadata
import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..model.checkpoint import sha256_file

SCHEMA = 1


def sidecar_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def write_sidecar(artifact: str | Path, meta: dict[str, Any]) -> Path:
    """Write atomically, so a concurrent reader sees the old sidecar or the new one, never half."""
    path = sidecar_path(artifact)
    write_atomic(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def read_sidecar(artifact: str | Path) -> dict[str, Any] | None:
    """The sidecar's content, or None when it is missing or unreadable (treated as stale)."""
    try:
        meta = json.loads(sidecar_path(artifact).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def tool_versions(tensorrt_version: str | None = None) -> dict[str, str | None]:
    """Versions that produced an artefact (read from package metadata: importing is not needed)."""
    import torch

    from ..version import __version__

    return {
        "attgan_batch": __version__, "torch": torch.__version__, "onnx": _version("onnx"),
        "onnxscript": _version("onnxscript"), "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
        "openvino": _version("openvino"), "tensorrt": tensorrt_version or _version("tensorrt"),
    }


def parse_profile(text: str) -> tuple[int, int, int]:
    """``MIN:OPT:MAX`` (or one number N meaning 1:N:N) -> (min, opt, max); ValueError says what is wrong."""
    parts = text.strip().split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"batch profile {text!r} is not MIN:OPT:MAX with whole numbers, e.g. 1:8:32") from None
    if len(values) == 1:
        values = [1, values[0], values[0]]
    if len(values) != 3:
        raise ValueError(f"batch profile {text!r} needs three numbers MIN:OPT:MAX, e.g. 1:8:32")
    lo, opt, hi = values
    if not 1 <= lo <= opt <= hi:
        raise ValueError(f"batch profile {text!r} must satisfy 1 <= MIN <= OPT <= MAX")
    return lo, opt, hi


def format_profile(profile: tuple[int, int, int] | list[int]) -> str:
    return ":".join(str(int(v)) for v in profile)


def build_meta(*, target: str, artifact: str | Path, checkpoint_sha256: str, checkpoint_path: str | Path,
               precision: str, opset: int, image_size: int, n_attrs: int, profile: tuple[int, int, int],
               parity: dict[str, Any], onnx_sha256: str, exporter: str | None = None,
               tensorrt_version: str | None = None, gpu: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to decide later whether ``artifact`` still fits (see check_staleness)."""
    meta: dict[str, Any] = {
        "schema": SCHEMA, "target": target, "artifact": Path(artifact).name,
        "artifact_sha256": sha256_file(artifact),
        "checkpoint_sha256": checkpoint_sha256, "checkpoint_path": str(checkpoint_path),
        "onnx_sha256": onnx_sha256, "opset": opset, "exporter": exporter, "precision": precision,
        "profile": {"min_batch": profile[0], "opt_batch": profile[1], "max_batch": profile[2],
                    "dynamic_batch": target == "onnx", "image_size": image_size, "n_attrs": n_attrs},
        "versions": tool_versions(tensorrt_version), "gpu": gpu, "parity": parity,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(extra or {})
    return meta


@dataclass
class FieldDiff:
    field: str  # checkpoint | precision | shape | graph | tensorrt | gpu | file | sidecar
    built: Any
    current: Any

    def __str__(self) -> str:
        return f"{self.field}: built for {self.built}, now {self.current}"


@dataclass
class Staleness:
    artifact: Path
    diffs: list[FieldDiff] = field(default_factory=list)
    command: str = ""

    @property
    def fields(self) -> list[str]:
        return [d.field for d in self.diffs]

    @property
    def stale(self) -> bool:
        return bool(self.diffs)

    def reasons(self) -> str:
        return "; ".join(str(d) for d in self.diffs)

    def message(self) -> str:
        return f"{self.artifact} is stale ({self.reasons()}). Rebuild it with: {self.command}"


def rebuild_command(*, checkpoint: str | Path, precision: str, profile: tuple[int, int, int], out: str | Path,
                    target: str) -> str:
    return " ".join([
        "attgan-batch", "build-engine", "--checkpoint", shlex.quote(str(checkpoint)), "--precision", precision,
        "--batch", format_profile(profile), "--out", shlex.quote(str(out)), "--target", target,
    ])


def _short(sha: str | None) -> str:
    return f"sha256 {sha[:12]}" if sha else "unknown"


def _gpu_text(gpu: dict[str, Any] | None) -> str:
    return f"{gpu.get('name')} (sm {gpu.get('compute_capability')})" if gpu else "unknown GPU"


def check_staleness(artifact: str | Path, meta: dict[str, Any] | None, *, checkpoint_sha256: str,
                    checkpoint_path: str | Path, precision: str, image_size: int, engines_dir: str | Path,
                    batch_size: int | None = None, tensorrt_version: str | None = None,
                    gpu: dict[str, Any] | None = None, verify_file: bool = True,
                    graph: str | None = None) -> Staleness:
    """Which recorded fields differ from what this run needs, and the command that rebuilds the artefact.

    ONNX files carry a dynamic batch axis, so only TensorRT plans are checked against ``batch_size``,
    the TensorRT version and the GPU (name and compute capability). ``graph``: the ONNX graph form
    this version writes; the engines cache re-exports an older form (still correct, but slower).
    """
    artifact = Path(artifact)
    target = (meta or {}).get("target") or ("tensorrt" if artifact.suffix in (".plan", ".engine") else "onnx")
    profile_meta = (meta or {}).get("profile") or {}
    old = (int(profile_meta.get("min_batch", 1)), int(profile_meta.get("opt_batch", 8)),
           int(profile_meta.get("max_batch", 32)))
    wanted = old
    if batch_size is not None and not old[0] <= batch_size <= old[2]:
        wanted = (min(old[0], batch_size), batch_size, max(old[2], batch_size))
    report = Staleness(artifact, command=rebuild_command(
        checkpoint=checkpoint_path, precision=precision, profile=wanted, out=engines_dir, target=target))

    if meta is None:
        report.diffs.append(FieldDiff("sidecar", "a sidecar " + sidecar_path(artifact).name, "none readable"))
        return report
    diffs = report.diffs
    if meta.get("checkpoint_sha256") != checkpoint_sha256:
        diffs.append(FieldDiff("checkpoint", _short(meta.get("checkpoint_sha256")), _short(checkpoint_sha256)))
    if meta.get("precision") != precision:
        diffs.append(FieldDiff("precision", meta.get("precision"), precision))
    if profile_meta.get("image_size") != image_size:
        diffs.append(FieldDiff("shape", f"{profile_meta.get('image_size')} px images", f"{image_size} px"))
    if graph is not None and target == "onnx" and meta.get("graph") != graph:
        diffs.append(FieldDiff("graph", meta.get("graph") or "plain convolutions (an older attgan-batch)", graph))
    if target == "tensorrt":
        if batch_size is not None and wanted != old:
            diffs.append(FieldDiff("shape", f"batch {format_profile(old)} (min:opt:max)", f"batch {batch_size}"))
        built_trt = (meta.get("versions") or {}).get("tensorrt")
        if tensorrt_version is not None and built_trt != tensorrt_version:
            diffs.append(FieldDiff("tensorrt", f"TensorRT {built_trt}", f"TensorRT {tensorrt_version}"))
        built_gpu = meta.get("gpu") or {}
        if gpu is not None and (built_gpu.get("name"), built_gpu.get("compute_capability")) != (
                gpu.get("name"), gpu.get("compute_capability")):
            diffs.append(FieldDiff("gpu", _gpu_text(built_gpu), _gpu_text(gpu)))
    if verify_file and not diffs:
        try:
            actual = sha256_file(artifact)
        except OSError:
            actual = "missing"
        if actual != meta.get("artifact_sha256"):
            diffs.append(FieldDiff("file", _short(meta.get("artifact_sha256")),
                                   "missing" if actual == "missing" else f"{_short(actual)} (changed since built)"))
    return report
