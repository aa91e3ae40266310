"""OpenVINO backend: the fastest CPU path measured here, over the same exported ONNX file.

Why a second CPU engine beside ONNX Runtime: OpenVINO's CPU plugin has JIT-compiled transposed
convolutions (82% of the generator's work) and runs *streams*, independent inference lanes of one
core each. Two batches then run side by side with no thread barrier between layers, so a core
that the pipeline's decode or PNG threads borrow delays one batch instead of stalling every layer.
`benchmarks/backends.py` measures it against eager torch and ONNX Runtime (docs/engines.md).

openvino is an optional extra, imported only here and only when used; every failure says how to
install it or which backend to use instead. Precision is pinned to f32: on CPUs with bf16 units
OpenVINO would otherwise compute in bf16 and change the outputs.
"""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import EngineUnavailable
from .graph_io import STYLE_INPUT
from .onnx_backend import cpu_count, input_arrays
from .optional import import_or_explain, installed

INSTALL_HINT = "`pip install 'attgan-batch[openvino]'`"


def openvino_available() -> bool:
    return installed("openvino")


def import_openvino() -> Any:
    return import_or_explain("openvino", f"Install it with {INSTALL_HINT}, or use --backend onnxruntime or "
                                         "--backend torch.")


def compile_config(threads: int, streams: int | None) -> dict[str, str]:
    """Compile options: f32 always; one stream per core for batches (THROUGHPUT), one for batch 1."""
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": str(threads)}
    if streams == 1:
        config["PERFORMANCE_HINT"] = "LATENCY"  # one lane with every thread: best for single images
    else:
        config["PERFORMANCE_HINT"] = "THROUGHPUT"
        if streams:
            config["NUM_STREAMS"] = str(streams)
    return config


def tanh_as_sigmoid(model: Any) -> Any:
    """``model`` with each f32 Tanh written as 2*sigmoid(2x) - 1 (equal to within 2.4e-7).

    Why: OpenVINO's CPU Tanh runs on the generator's 3-channel output in a channel-last layout
    at ~3x the cost of its Sigmoid there (15-18 ms vs 5-7 ms per batch of 8 in its per-layer
    profile, ~2% of the whole generator); the multiplies fold into neighbouring ops. Only this
    engine's in-memory graph changes: the ONNX file, which ONNX Runtime and TensorRT read as it is
    (ONNX Runtime measured 3.5% slower with the rewrite), keeps its Tanh.
    """
    from openvino import opset13 as ops

    for node in model.get_ordered_ops():
        if node.get_type_name() != "Tanh" or node.get_output_element_type(0).get_type_name() != "f32":
            continue
        x = node.input_value(0)
        two, one = ops.constant(np.float32(2.0)), ops.constant(np.float32(1.0))
        y = ops.subtract(ops.multiply(ops.sigmoid(ops.multiply(x, two)), two), one)
        y.output(0).get_tensor().set_names(node.output(0).get_names())
        node.output(0).replace(y.output(0))
    return model


class OpenVinoBackend:
    """One compiled model, one infer request per stream.

    ``infer`` is thread-safe: each call takes a free request (waiting for one) plus any other idle
    ones and splits its batch over them. The pipeline calls it from ``concurrency`` threads at once,
    so each stream gets a whole batch; a lone call (``Editor.edit``) still uses every core.
    """

    name = "openvino"

    def __init__(self, onnx_path: str | Path, *, threads: int | None = None, streams: int | None = None,
                 meta: dict[str, Any] | None = None):
        ov = import_openvino()
        self.path = Path(onnx_path)
        self.threads = threads or cpu_count()
        self.meta = meta or {}
        self.version = ov.get_version()
        core = ov.Core()
        try:
            model = tanh_as_sigmoid(core.read_model(str(self.path)))
            self.compiled = core.compile_model(model, "CPU", compile_config(self.threads, streams))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with its own text
            raise EngineUnavailable(
                f"openvino {self.version} cannot load {self.path} ({type(exc).__name__}: {exc}). Rebuild it "
                "with `attgan-batch build-engine --target onnx`, or use --backend onnxruntime or torch."
            ) from exc
        self.streams = max(1, int(self.compiled.get_property("NUM_STREAMS")))
        self.concurrency = self.streams  # how many infer() calls the pipeline may run at once
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self.streams):
            self._free.put(self.compiled.create_infer_request())
        names = {name for port in self.compiled.inputs for name in port.get_names()}
        self.style_width = 0
        if STYLE_INPUT in names:
            self.style_width = int(self.compiled.input(STYLE_INPUT).get_partial_shape()[1].get_length())
        self._output = self.compiled.outputs[0]

    def infer(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        feed = input_arrays(images, attrs, style, self.style_width)
        n = len(images)
        taken = [self._free.get()]
        while len(taken) < n:
            try:
                taken.append(self._free.get_nowait())
            except queue.Empty:
                break
        try:
            bounds = np.linspace(0, n, len(taken) + 1).astype(int)
            for request, lo, hi in zip(taken, bounds[:-1], bounds[1:]):
                request.start_async({name: value[lo:hi] for name, value in feed.items()})
            for request in taken:
                request.wait()
            # copy out: a request's output buffer is reused by its next inference
            out = np.concatenate([request.get_tensor(self._output).data for request in taken])
        finally:
            for request in taken:
                self._free.put(request)
        return torch.from_numpy(out).float()

    def describe(self) -> dict[str, Any]:
        parity = self.meta.get("parity") or {}
        return {
            "backend": self.name, "device": "cpu", "precision": self.meta.get("precision", "fp32"),
            "engine": str(self.path), "engine_sha256": self.meta.get("onnx_sha256"), "opset": self.meta.get("opset"),
            "exporter": self.meta.get("exporter"), "parity_max_abs_diff": parity.get("max_abs_diff"),
            "streams": self.streams, "threads": self.threads, "openvino": self.version, "torch": torch.__version__,
        }
