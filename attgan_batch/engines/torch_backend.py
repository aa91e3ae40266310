"""PyTorch backend: channels_last on CPU and CUDA, optional CUDA autocast (fp16/bf16), optional torch.compile.

``compile=True`` runs the generator through ``torch.compile`` with Inductor's weight freezing
(weights folded and pre-packed for oneDNN). On the 2-core CPU of benchmarks/backends.py that was
1.1-1.5x eager at batch 8 (ONNX Runtime: 1.3-1.4x) and 1.4x at batch 32 (ONNX Runtime: 1.3x); it
costs ~20 s of compilation per process and needs a C++ compiler, so it pays off on long runs, large
batches and GPUs without TensorRT. Every batch is padded to one fixed size so it compiles once.
"""
from __future__ import annotations

from typing import Any

import torch

from ..model import Generator


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is usable, else the CPU; ``cuda`` without a GPU is an error."""
    from ..errors import EngineUnavailable

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailable(
            "--device cuda was requested but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); use --device cpu"
        )
    return torch.device(device)


class TorchBackend:
    name = "torch"
    concurrency = 1  # one infer() at a time: the engine itself uses every core (or the GPU)

    def __init__(self, generator: Generator, device: str | torch.device = "auto",
                 channels_last: bool = True, precision: str = "fp32", compile: bool = False,
                 batch_size: int = 16, img_size: int | None = None):
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.channels_last = channels_last
        self.precision = precision
        self.generator = generator.to(self.device).eval()
        if channels_last:
            self.generator = self.generator.to(memory_format=torch.channels_last)
        self._autocast_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        if self._autocast_dtype is not None and self.device.type != "cuda":
            self._autocast_dtype = None  # autocast on CPU is slower than fp32 for this model
            self.precision = "fp32"
        self.compiled = None
        self.compile_seconds: float | None = None
        self.batch_size = batch_size
        if compile:
            self._compile(img_size)

    def _compile(self, img_size: int | None) -> None:
        """Compile now, on a dummy batch, so a missing compiler fails the setup and not a row."""
        import time

        from ..errors import EngineUnavailable

        if img_size is None:
            raise ValueError("compile=True needs img_size (the checkpoint's image size) to compile ahead of the run")
        start = time.perf_counter()
        self.compiled = torch.compile(self.generator, dynamic=False, options={"freezing": True})
        g = self.generator
        x = torch.zeros(self.batch_size, 3, img_size, img_size)
        a = torch.zeros(self.batch_size, g.n_attrs)
        s = torch.zeros(self.batch_size, g.n_style) if g.n_style else None
        try:
            self._forward(x, a, s)
        except Exception as exc:  # Inductor raises many types: missing compiler, unsupported op, ...
            raise EngineUnavailable(
                f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}). It needs a C++ "
                "compiler for CPU code (e.g. `apt-get install g++`); or drop --compile, or use --backend onnxruntime."
            ) from exc
        self.compile_seconds = time.perf_counter() - start

    @torch.inference_mode()
    def infer(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if self.compiled is None:
            return self._forward(images, attrs, style)
        n, b = images.shape[0], self.batch_size
        outs = []
        for i in range(0, n, b):  # fixed-size chunks (the last one padded): one compiled graph
            chunk = [t[i:i + b] if t is not None else None for t in (images, attrs, style)]
            k = chunk[0].shape[0]
            if k < b:
                chunk = [torch.cat([t, t[-1:].expand(b - k, *t.shape[1:])]) if t is not None else None for t in chunk]
            outs.append(self._forward(*chunk)[:k])
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    @torch.inference_mode()
    def _forward(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        model = self.compiled if self.compiled is not None else self.generator
        non_blocking = self.device.type == "cuda"
        x = images.to(self.device, non_blocking=non_blocking)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        a = attrs.to(self.device, dtype=torch.float32, non_blocking=non_blocking)
        s = None if style is None else style.to(self.device, dtype=torch.float32, non_blocking=non_blocking)
        if self._autocast_dtype is not None:
            with torch.autocast(self.device.type, dtype=self._autocast_dtype):
                y = model(x, a, s)
        else:
            y = model(x, a, s)
        return y.float().contiguous().cpu()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.name, "device": str(self.device), "precision": self.precision,
            "channels_last": self.channels_last, "torch": torch.__version__,
        }
        if self.compiled is not None:
            info |= {"compiled": True, "compile_seconds": round(self.compile_seconds or 0, 1),
                     "compiled_batch": self.batch_size}
        if self.device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info
