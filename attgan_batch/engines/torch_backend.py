"""Eager PyTorch backend: channels_last on CPU and CUDA, optional CUDA autocast (fp16/bf16)."""
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

    def __init__(self, generator: Generator, device: str | torch.device = "auto",
                 channels_last: bool = True, precision: str = "fp32"):
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

    @torch.inference_mode()
    def infer(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        non_blocking = self.device.type == "cuda"
        x = images.to(self.device, non_blocking=non_blocking)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        a = attrs.to(self.device, dtype=torch.float32, non_blocking=non_blocking)
        s = None if style is None else style.to(self.device, dtype=torch.float32, non_blocking=non_blocking)
        if self._autocast_dtype is not None:
            with torch.autocast(self.device.type, dtype=self._autocast_dtype):
                y = self.generator(x, a, s)
        else:
            y = self.generator(x, a, s)
        return y.float().contiguous().cpu()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.name, "device": str(self.device), "precision": self.precision,
            "channels_last": self.channels_last, "torch": torch.__version__,
        }
        if self.device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info
