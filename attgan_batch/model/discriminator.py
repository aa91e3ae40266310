"""AttGAN critic D with its attribute-classifier head C (the reference's ``Discriminators``).

Key names match the reference (``conv.{i}``, ``fc_adv``, ``fc_cls``). The reference hard-codes the
trunk width 1024 and 13 classes in the heads; here both are derived from the configuration, which
gives identical shapes for every published setting.

A style model (``n_style > 0``) adds the paper's auxiliary network Q as a third head on the same
trunk, ``fc_style``, which predicts the style codes from an image. Without style it does not exist,
so plain checkpoints keep exactly the reference's keys.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import Conv2dBlock, LinearBlock
from .config import MAX_DIM, AttGANSettings


class Discriminator(nn.Module):
    def __init__(
        self,
        dim: int = 64,
        norm: str = "instancenorm",
        acti: str = "lrelu",
        fc_dim: int = 1024,
        fc_norm: str = "none",
        fc_acti: str = "relu",
        n_layers: int = 5,
        img_size: int = 128,
        n_attrs: int = 13,
        n_style: int = 0,
    ):
        super().__init__()
        f_size = img_size // 2**n_layers
        layers, n_in = [], 3
        for i in range(n_layers):
            width = min(dim * 2**i, MAX_DIM)
            layers.append(Conv2dBlock(n_in, width, norm, acti))
            n_in = width
        self.conv = nn.Sequential(*layers)
        flat = n_in * f_size * f_size
        self.fc_adv = nn.Sequential(LinearBlock(flat, fc_dim, fc_norm, fc_acti), LinearBlock(fc_dim, 1))
        self.fc_cls = nn.Sequential(LinearBlock(flat, fc_dim, fc_norm, fc_acti), LinearBlock(fc_dim, n_attrs))
        self.n_style = n_style
        if n_style:
            self.fc_style = nn.Sequential(LinearBlock(flat, fc_dim, fc_norm, fc_acti), LinearBlock(fc_dim, n_style))

    @classmethod
    def from_settings(cls, s: AttGANSettings) -> "Discriminator":
        return cls(
            dim=s.dis_dim, norm=s.dis_norm, acti=s.dis_acti, fc_dim=s.dis_fc_dim, fc_norm=s.dis_fc_norm,
            fc_acti=s.dis_fc_acti, n_layers=s.dis_layers, img_size=s.img_size, n_attrs=s.n_attrs,
            n_style=s.n_style,
        )

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial logit (N, 1), attribute logits (N, n_attrs))."""
        h = self.trunk(x)
        return self.fc_adv(h), self.fc_cls(h)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(adversarial logit, attribute logits, predicted style codes or None) from one trunk pass."""
        h = self.trunk(x)
        return self.fc_adv(h), self.fc_cls(h), (self.fc_style(h) if self.n_style else None)
