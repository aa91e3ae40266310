"""ONNX Runtime backend: the CPU path when OpenVINO is absent (one session, all cores), CUDA with onnxruntime-gpu.

onnxruntime is an optional extra, so it is imported only here and only when used; every failure
says how to install it or which backend to use instead.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import EngineUnavailable
from .graph_io import INPUT_NAMES, OUTPUT_NAME, STYLE_INPUT
from .optional import import_or_explain, installed


def onnxruntime_available() -> bool:
    return installed("onnxruntime")


def import_onnxruntime() -> Any:
    return import_or_explain("onnxruntime",
                             "Install it with `pip install 'attgan-batch[onnx]'`, or use --backend torch.")


def cpu_count() -> int:
    """CPUs this process may use (respects taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def providers_for(device: str) -> list[Any]:
    """Execution providers for ``device`` (cpu, cuda, cuda:N); EngineUnavailable when CUDA's is missing."""
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise EngineUnavailable(
                f"--device cuda with --backend onnxruntime needs onnxruntime-gpu (this onnxruntime "
                f"{ort.__version__} has {available}); `pip install onnxruntime-gpu`, or use --backend "
                "torch --device cuda, or --device cpu."
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(onnx_path: str | Path, *, device: str = "cpu", threads: int | None = None) -> Any:
    ort = import_onnxruntime()
    providers = providers_for(device)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_count()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise EngineUnavailable(
            f"onnxruntime {ort.__version__} cannot load {onnx_path} ({type(exc).__name__}: {exc}). "
            "Rebuild it with `attgan-batch build-engine --target onnx`, or use --backend torch."
        ) from exc


def input_arrays(images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None,
          style_width: int = 0) -> dict[str, np.ndarray]:
    """Graph inputs by name (for ONNX Runtime and OpenVINO); a style graph gets neutral (zero) codes
    when none are given."""
    def arr(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().cpu().float().numpy())

    feed = {INPUT_NAMES[0]: arr(images), INPUT_NAMES[1]: arr(attrs)}
    if style_width:
        feed[STYLE_INPUT] = arr(style if style is not None else torch.zeros(len(images), style_width))
    elif style is not None and style.numel():
        raise ValueError("this ONNX model has no style input (exported from a model trained without --style)")
    return feed


def style_width(session: Any) -> int:
    """Number of style codes the graph takes (0 when it has no style input)."""
    for item in session.get_inputs():
        if item.name == STYLE_INPUT:
            return int(item.shape[1])
    return 0


def run_onnx(onnx_path: str | Path, images: torch.Tensor, attrs: torch.Tensor,
             style: torch.Tensor | None = None) -> torch.Tensor:
    """One-shot inference (parity checks, golden outputs)."""
    session = make_session(onnx_path)
    return torch.from_numpy(session.run([OUTPUT_NAME], input_arrays(images, attrs, style, style_width(session)))[0]).float()


class OnnxRuntimeBackend:
    name = "onnxruntime"
    concurrency = 1  # one infer() at a time: the engine itself uses every core (or the GPU)

    def __init__(self, onnx_path: str | Path, *, device: str = "cpu", threads: int | None = None,
                 meta: dict[str, Any] | None = None):
        self.path = Path(onnx_path)
        self.threads = threads or cpu_count()
        self.session = make_session(self.path, device=device, threads=self.threads)
        self.providers = list(self.session.get_providers())
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        self.meta = meta or {}
        self.style_width = style_width(self.session)

    def infer(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        out = self.session.run([OUTPUT_NAME], input_arrays(images, attrs, style, self.style_width))[0]
        return torch.from_numpy(out).float()

    def describe(self) -> dict[str, Any]:
        ort = import_onnxruntime()
        parity = self.meta.get("parity") or {}
        return {
            "backend": self.name, "device": self.device, "providers": self.providers,
            "precision": self.meta.get("precision", "fp32"), "engine": str(self.path),
            "engine_sha256": self.meta.get("onnx_sha256"), "opset": self.meta.get("opset"),
            "exporter": self.meta.get("exporter"), "parity_max_abs_diff": parity.get("max_abs_diff"),
            "intra_op_threads": self.threads, "onnxruntime": ort.__version__, "torch": torch.__version__,
        }
