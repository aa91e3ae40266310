"""OpenVINO backend: the fastest CPU path measured here, over the same exported ONNX file.

Why a second CPU engine beside ONNX Runtime: OpenVINO's CPU plugin has JIT-compiled transposed
convolutions (82% of the generator's work) and runs *streams*, independent inference lanes of one
core each. Two batches then run side by side with no thread barrier between layers, so a core
that the pipeline's decode or PNG threads borrow delays one batch instead of stalling every layer.
`benchmarks/backends.py` measures it against eager torch and ONNX Runtime (docs/engines.md).

openvino is an optional extra, imported only here and only when used; every failure says how to
install it or which backend to use instead. Precision is pinned to f32 by default: on CPUs with
bf16 units OpenVINO would otherwise compute in bf16 and change the outputs. ``--precision bf16``
asks for exactly that, over the same fp32 ONNX file, where the CPU plugin reports ``BF16`` in its
``OPTIMIZATION_CAPABILITIES`` (AVX512_BF16 or AMX units); every such engine is compared with
PyTorch fp32 before use, within the bf16 tolerance (engines.export.TOLERANCE).
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


INFERENCE_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # --precision -> OpenVINO's INFERENCE_PRECISION_HINT


def bf16_missing(ov: Any | None = None) -> str | None:
    """None when this CPU runs bf16 in OpenVINO; else what is missing and what to use instead."""
    ov = ov or import_openvino()
    try:
        capabilities = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as exc:  # an OpenVINO without the CPU plugin, or one that cannot query it
        return (f"OpenVINO {ov.get_version()} cannot report this CPU's capabilities ({type(exc).__name__}: {exc}); "
                "use --precision fp32")
    if "BF16" in capabilities:
        return None
    return (f"--precision bf16 needs a CPU with bf16 units (AVX512_BF16 or AMX); OpenVINO {ov.get_version()} "
            f"reports this CPU's OPTIMIZATION_CAPABILITIES as {', '.join(capabilities) or 'none'}, without BF16. "
            "Use --precision fp32 (the default) here, or --precision fp16/bf16 with --device cuda on an NVIDIA GPU")


def compile_config(threads: int, streams: int | None, precision: str = "fp32") -> dict[str, str]:
    """Compile options: f32 unless bf16 is asked for; one stream per core for batches (THROUGHPUT), one for batch 1."""
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"OpenVINO compiles fp32 graphs for {' or '.join(INFERENCE_PRECISIONS)}, not {precision!r}")
    config = {"INFERENCE_PRECISION_HINT": INFERENCE_PRECISIONS[precision], "INFERENCE_NUM_THREADS": str(threads)}
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

    def __init__(self, onnx_path: str | Path | None = None, *, model: Any = None, threads: int | None = None,
                 streams: int | None = None, meta: dict[str, Any] | None = None, precision: str = "fp32"):
        """Compile ``onnx_path``, or ``model``, an ``openvino.Model`` built in memory
        (:mod:`.openvino_graph`). ``precision``: "fp32", or "bf16" (OpenVINO's bf16 inference over an
        fp32 graph; EngineUnavailable naming what is missing where the CPU has no bf16 units). An fp16
        graph is compiled as fp32."""
        if (onnx_path is None) == (model is None):
            raise ValueError("give OpenVinoBackend an ONNX file or an in-memory model, not both or neither")
        ov = import_openvino()
        self.path = None if onnx_path is None else Path(onnx_path)
        self.threads = threads or cpu_count()
        self.meta = meta or {}
        self.version = ov.get_version()
        if precision == "bf16" and (missing := bf16_missing(ov)):
            raise EngineUnavailable(missing)
        self.inference_precision = "bf16" if precision == "bf16" else "fp32"
        self.parity: dict[str, Any] | None = None  # a bf16 engine's own check (check_bf16_parity)
        core = ov.Core()
        try:
            model = tanh_as_sigmoid(model if model is not None else core.read_model(str(self.path)))
            config = compile_config(self.threads, streams, self.inference_precision)
            self.compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with its own text
            what = self.path or "the generator's in-memory graph"
            raise EngineUnavailable(
                f"openvino {self.version} cannot compile {what} ({type(exc).__name__}: {exc}). Rebuild it "
                "with `attgan-batch build-engine --target onnx` and pass it with --engine, or use --backend "
                "onnxruntime or torch."
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
        parity = self.parity or self.meta.get("parity") or {}
        graph_precision = self.meta.get("precision", "fp32")
        precision = "bf16" if self.inference_precision == "bf16" else graph_precision
        engine: dict[str, Any] = {"engine": "in memory, built from the checkpoint"}
        if self.path is not None:
            engine = {"engine": str(self.path), "engine_sha256": self.meta.get("onnx_sha256"),
                      "opset": self.meta.get("opset")}
        return {
            "backend": self.name, "device": "cpu", "precision": precision, "graph_precision": graph_precision,
            "parity_tolerance": parity.get("tolerance"), **engine,
            "exporter": self.meta.get("exporter"), "parity_max_abs_diff": parity.get("max_abs_diff"),
            "streams": self.streams, "threads": self.threads, "openvino": self.version, "torch": torch.__version__,
        }


def check_bf16_parity(backend: OpenVinoBackend, generator: torch.nn.Module, *, img_size: int, n_attrs: int,
                      n_style: int = 0) -> Any:
    """A bf16 engine against PyTorch fp32 on the export's seeded inputs, within the bf16 tolerance.

    The ONNX file's own check was fp32; bf16 is chosen at compile time, so its engine is checked here
    (a batch of 3: ~0.2 s at default width) and the result goes into ``describe()``, hence the report."""
    from .export import PARITY_BATCH, TOLERANCE, compare, parity_inputs, reference_outputs

    inputs = parity_inputs(img_size, n_attrs, PARITY_BATCH, n_style=n_style)
    parity = compare(backend.infer(*inputs), reference_outputs(generator, inputs), TOLERANCE["bf16"],
                     "pytorch fp32 (seeded inputs), openvino bf16", PARITY_BATCH)
    backend.parity = parity.to_dict()
    return parity
