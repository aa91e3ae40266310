"""TensorRT backend: run a prebuilt plan on one GPU with the TensorRT 10/11 name-based tensor API.

A plan is deserialized once; each batch is copied to torch CUDA tensors whose addresses are handed
to the execution context, and ``execute_async_v3`` runs on a private (non-default) stream so the
copies and the engine are ordered on one stream without a device-wide sync. Batches above the
plan's profile maximum are split; batches below its minimum are padded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import EngineUnavailable
from .export import INPUT_NAMES, OUTPUT_NAME, STYLE_INPUT
from .tensorrt_env import FALLBACK, tensorrt_ready, tensorrt_version, torch_dtype


def _built_for(meta: dict[str, Any] | None) -> str:
    if not meta:
        return "no sidecar says what built it"
    gpu = meta.get("gpu") or {}
    return (f"its sidecar says TensorRT {(meta.get('versions') or {}).get('tensorrt')} on "
            f"{gpu.get('name')} (sm {gpu.get('compute_capability')})")


class TensorRTBackend:
    name = "tensorrt"
    concurrency = 1  # one infer() at a time: the engine itself uses every core (or the GPU)

    def __init__(self, plan_path: str | Path, *, device_index: int = 0, meta: dict[str, Any] | None = None,
                 rebuild: str | None = None):
        self.path = Path(plan_path)
        self.meta = meta or {}
        self.flavour = self.meta.get("flavour", "tensorrt")
        if self.flavour == "tensorrt-rtx":  # the same runtime API, from TensorRT for RTX's module
            from .tensorrt_env import require_gpu
            from .tensorrt_rtx import import_rtx

            trt = import_rtx()
            self.gpu = require_gpu(trt, device_index)
        else:
            trt, self.gpu = tensorrt_ready(device_index)
        self.trt_version = tensorrt_version(trt)
        self._logger = trt.Logger(trt.Logger.WARNING)
        try:
            self._runtime = trt.Runtime(self._logger)
        except TypeError as exc:  # "factory function returned nullptr": CUDA could not initialise
            raise EngineUnavailable(f"TensorRT {self.trt_version} could not initialise CUDA on GPU {device_index} "
                                    f"({exc}); check the driver (nvidia-smi), or {FALLBACK}.") from exc
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            command = rebuild or "attgan-batch build-engine --target tensorrt --checkpoint ..."
            raise EngineUnavailable(
                f"TensorRT {self.trt_version} cannot load plan {self.path} on {self.gpu.name} "
                f"(sm {self.gpu.compute_capability}): a plan runs only on the TensorRT version and GPU "
                f"architecture that built it ({_built_for(meta)}). Rebuild it here with `{command}`, "
                f"or {FALLBACK}."
            )
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise EngineUnavailable(f"TensorRT could not create an execution context for {self.path} "
                                    f"(out of GPU memory?); {FALLBACK}.")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        missing = [n for n in (*INPUT_NAMES, OUTPUT_NAME) if n not in names]
        if missing:
            raise EngineUnavailable(f"plan {self.path} has tensors {names}, not {missing}; it was not built by "
                                    "attgan-batch build-engine")
        self.dtypes = {n: torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}
        self.inputs = [*INPUT_NAMES, *([STYLE_INPUT] if STYLE_INPUT in names else [])]
        self.style_width = int(self.engine.get_tensor_shape(STYLE_INPUT)[1]) if STYLE_INPUT in names else 0
        shapes = self.engine.get_tensor_profile_shape(INPUT_NAMES[0], 0)  # [min, opt, max] dims
        self.min_batch, self.max_batch = int(shapes[0][0]), int(shapes[2][0])
        self.device = torch.device("cuda", device_index)
        self.stream = torch.cuda.Stream(device=self.device)

    def _run(self, *host: torch.Tensor) -> torch.Tensor:
        """One chunk: ``host`` = (images, attrs[, style]) on the CPU, in self.inputs order."""
        n = host[0].shape[0]
        if n < self.min_batch:  # pad up to the profile's minimum; the extra rows are dropped
            pad = self.min_batch - n
            host = tuple(torch.cat([t, t[-1:].expand(pad, *t.shape[1:])]) for t in host)
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            bound = [(name, t.to(self.device, dtype=self.dtypes[name], non_blocking=True).contiguous())
                     for name, t in zip(self.inputs, host)]
            for name, tensor in bound:
                if not self.context.set_input_shape(name, tuple(tensor.shape)):
                    raise EngineUnavailable(f"plan {self.path} rejects {name} of shape {tuple(tensor.shape)} "
                                            f"(profile batch {self.min_batch}..{self.max_batch})")
            y = torch.empty(tuple(self.context.get_tensor_shape(OUTPUT_NAME)), dtype=self.dtypes[OUTPUT_NAME],
                            device=self.device)
            for name, tensor in (*bound, (OUTPUT_NAME, y)):
                self.context.set_tensor_address(name, tensor.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise EngineUnavailable(f"TensorRT failed to run {self.path} (see the TensorRT log above); {FALLBACK}.")
            out = y[:n].float().cpu()  # on self.stream: waits for the engine, not for the whole device
        return out

    def infer(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        host = [images, attrs]
        if self.style_width:  # a style plan: neutral codes unless given
            host.append(style if style is not None else torch.zeros(images.shape[0], self.style_width))
        elif style is not None and style.numel():
            raise EngineUnavailable(f"plan {self.path} has no style input (built from a model without --style)")
        chunks = [self._run(*(t[i:i + self.max_batch] for t in host))
                  for i in range(0, images.shape[0], self.max_batch)]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def describe(self) -> dict[str, Any]:
        parity = self.meta.get("parity") or {}
        return {
            "backend": self.name, "device": str(self.device), "gpu": self.gpu.name,
            "compute_capability": self.gpu.compute_capability, "precision": self.meta.get("precision"),
            "engine": str(self.path), "profile": self.meta.get("profile"), "tensorrt": self.trt_version,
            "flavour": self.flavour,
            "parity_max_abs_diff": parity.get("max_abs_diff"), "torch": torch.__version__,
        }
