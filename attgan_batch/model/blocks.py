"""Conv / transposed-conv / linear blocks with the reference's parameter layout.

Every block stores its modules in ``self.layers`` (an ``nn.Sequential``: conv, [norm], [act]) so
that state-dict keys are ``<block>.layers.0.weight``, ``<block>.layers.1.running_mean`` ... exactly
as in the published AttGAN-PyTorch checkpoints. The conv has a bias only when there is no norm.
"""
from __future__ import annotations

import torch
from torch import nn

from .setting_rules import ACTIVATIONS, NORMS


def _norm_2d(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batchnorm":
        return [nn.BatchNorm2d(channels)]
    if kind == "instancenorm":
        return [nn.InstanceNorm2d(channels, affine=True)]
    if kind == "none":
        return []
    raise ValueError(f"unknown norm {kind!r}; expected one of {NORMS}")


class _InstanceNorm1d(nn.Module):
    """Instance norm over the features of a (N, C) tensor, as the reference's 1-d variant."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.weight + self.bias


def _norm_1d(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batchnorm":
        return [nn.BatchNorm1d(channels)]
    if kind == "instancenorm":
        return [_InstanceNorm1d(channels)]
    if kind == "none":
        return []
    raise ValueError(f"unknown norm {kind!r}; expected one of {NORMS}")


def _activation(kind: str) -> list[nn.Module]:
    if kind == "relu":
        return [nn.ReLU()]
    if kind == "lrelu":
        return [nn.LeakyReLU()]  # slope 0.01, the PyTorch default the reference relies on
    if kind == "tanh":
        return [nn.Tanh()]
    if kind == "sigmoid":
        return [nn.Sigmoid()]
    if kind == "none":
        return []
    raise ValueError(f"unknown activation {kind!r}; expected one of {ACTIVATIONS}")


class Conv2dBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, norm: str = "none", acti: str = "none"):
        super().__init__()
        conv = nn.Conv2d(n_in, n_out, 4, stride=2, padding=1, bias=(norm == "none"))
        self.layers = nn.Sequential(conv, *_norm_2d(norm, n_out), *_activation(acti))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConvTranspose2dBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, norm: str = "none", acti: str = "none"):
        super().__init__()
        conv = nn.ConvTranspose2d(n_in, n_out, 4, stride=2, padding=1, bias=(norm == "none"))
        self.layers = nn.Sequential(conv, *_norm_2d(norm, n_out), *_activation(acti))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LinearBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, norm: str = "none", acti: str = "none"):
        super().__init__()
        linear = nn.Linear(n_in, n_out, bias=(norm == "none"))
        self.layers = nn.Sequential(linear, *_norm_1d(norm, n_out), *_activation(acti))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
