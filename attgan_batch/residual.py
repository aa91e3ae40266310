"""Residual composition (``--compose residual``): the input plus what the edit changes.

``G(x, b)`` redraws the whole face, with the model's reconstruction error; ``x + (G(x, b) - G(x, a))``
(``a`` the source attributes) keeps the input and adds only the edit's change, so that error
cancels and the photo keeps its own detail. Under ``--align`` the change is upsampled and added to
the full-resolution face (:func:`attgan_batch.align.warp.add_back`).
"""
from __future__ import annotations

import torch

COMPOSE_CHOICES = ("auto", "replace", "residual")


def uses_residual(compose: str, aligned: bool) -> bool:
    """Whether ``compose`` (one of COMPOSE_CHOICES) composes as a residual: ``auto`` does for aligned photos."""
    if compose not in COMPOSE_CHOICES:
        raise ValueError(f"compose must be one of {', '.join(COMPOSE_CHOICES)}, not {compose!r}")
    return compose == "residual" or (compose == "auto" and aligned)


def residual(x: torch.Tensor, edited: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """``x + (edited - recon)``, clamped to [-1, 1]."""
    return (x + (edited - recon)).clamp(-1, 1)
