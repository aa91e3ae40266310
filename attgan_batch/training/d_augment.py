"""Differentiable augmentation of what the critic sees (DiffAugment, Zhao et al. 2020). Off by default.

Not part of the reference objective. With few training images the critic's attribute head C can
be fooled by small pixel patterns instead of real attribute changes (measured on the synthetic
demo set: C judged 90%+ of edits successful while an independent classifier judged under 40%).
Showing C and the critic randomly shifted real *and* generated images, in the D and the G step
alike, makes such patterns useless. Only translation is offered: colour or cutout augmentation
would change the attributes C has to read (hair colour, skin, glasses).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("translation",)


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by a random whole number of pixels (up to ratio * size), zero-filled."""
    n, _, h, w = x.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_y, max_y + 1, (n,), device=x.device)
    dx = torch.randint(-max_x, max_x + 1, (n,), device=x.device)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * dx.to(x.dtype) / w   # grid coordinates are in [-1, 1]
    theta[:, 1, 2] = -2 * dy.to(x.dtype) / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def make_augment(policy: str):
    """The augmentation function for a comma-separated policy ('' = identity)."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown critic augmentation {unknown[0]!r}; available: {', '.join(POLICIES)}")
    if not names:
        return None
    return translate
