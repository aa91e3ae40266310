"""Attribute vectors for one training batch, exactly as the reference's train loop builds them.

``b`` is ``a`` shuffled over the batch (so every target is a plausible real combination), and
the vectors fed to G are the 0/1 labels scaled to ``±thres_int``. With ``b_distribution`` other
than ``none`` the target intensities are randomised, which makes G respond to a range of values.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

B_DISTRIBUTIONS = ("none", "uniform", "truncated_normal")


@dataclass
class Targets:
    att_a: torch.Tensor   # source labels, 0/1 float
    att_b: torch.Tensor   # target labels (a shuffled), 0/1 float
    att_a_: torch.Tensor  # scaled source, fed to G for reconstruction
    att_b_: torch.Tensor  # scaled target, fed to G for the edit


def scale(labels: torch.Tensor, thres_int: float) -> torch.Tensor:
    """0/1 labels -> ``±thres_int``."""
    return (labels * 2 - 1) * thres_int


def make_targets(att_a: torch.Tensor, thres_int: float, b_distribution: str = "none") -> Targets:
    """Draw ``b`` and the scaled vectors; uses the global torch RNG like the reference (saved on checkpoint)."""
    if b_distribution not in B_DISTRIBUTIONS:
        raise ValueError(f"unknown b_distribution {b_distribution!r}; expected one of {B_DISTRIBUTIONS}")
    idx = torch.randperm(len(att_a)).to(att_a.device)
    att_a = att_a.float()
    att_b = att_a[idx].contiguous()
    att_a_ = scale(att_a, thres_int)
    if b_distribution == "none":
        att_b_ = scale(att_b, thres_int)
    elif b_distribution == "uniform":
        att_b_ = (att_b * 2 - 1) * torch.rand_like(att_b) * (2 * thres_int)
    else:
        att_b_ = (att_b * 2 - 1) * (torch.fmod(torch.randn_like(att_b), 2) + 2) / 4.0 * (2 * thres_int)
    return Targets(att_a, att_b, att_a_, att_b_)
