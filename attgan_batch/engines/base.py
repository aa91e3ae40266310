"""The small interface every inference backend implements.

A backend turns a batch of preprocessed images and scaled attribute vectors into edited images.
Inputs and outputs are CPU float32 tensors so the pipeline does not care where the work runs:
``images`` (N, 3, H, W) in [-1, 1], ``attrs`` (N, n_attrs) as fed to the generator, and for a
style model ``style`` (N, n_style) codes in [-1, 1] (None = neutral zeros).
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Backend(Protocol):
    name: str
    concurrency: int  # how many infer() calls may run at once (OpenVINO streams; 1 elsewhere)

    def infer(self, images: torch.Tensor, attrs: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Edited images (N, 3, H, W) in [-1, 1], float32 on CPU."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for the report: backend name, device, precision, engine file..."""
        ...
