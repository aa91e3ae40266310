"""The two halves of an AttGAN iteration as modules, so DistributedDataParallel can wrap them.

DDP synchronises gradients of a module's forward. The D step needs two critic passes (real+fake,
and the gradient-penalty interpolates) and the G step one encode and two decodes, so each step's
whole forward lives in one module: one DDP forward and one backward per step. In the D step the
real and fake batches go through the critic together when its norms act per sample (instance norm
or none): that equals two separate passes and runs faster. A critic with batch norm normalises over
the batch, so there real and fake take separate passes, as in the reference, to keep its statistics.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import losses
from .style import style_loss

Augment = Callable[[torch.Tensor], torch.Tensor]  # optional critic-input augmentation (d_augment.py)


def has_batch_norm(module: nn.Module) -> bool:
    """Whether any layer normalises over the batch (its output for one sample depends on the others)."""
    batch_norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    return any(isinstance(m, batch_norms) for m in module.modules())


class DStep(nn.Module):
    """Critic + classifier loss: adv + lambda_gp * gp + lambda_3 * BCE(C(real), a)."""

    def __init__(self, discriminator: nn.Module, mode: str, lambda_gp: float, lambda_3: float,
                 augment: Augment | None = None):
        super().__init__()
        if mode not in losses.MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {losses.MODES}")
        self.D, self.mode, self.lambda_gp, self.lambda_3 = discriminator, mode, lambda_gp, lambda_3
        self.augment = augment
        self.joint = not has_batch_norm(discriminator)  # one critic pass on real+fake gives the same losses

    def _critic(self, x: torch.Tensor):
        return self.D.heads(self.augment(x) if self.augment else x)

    def forward(self, real: torch.Tensor, fake: torch.Tensor, att_a: torch.Tensor,
                theta: torch.Tensor | None = None, style_mask: torch.Tensor | None = None,
                lambda_style: float = 0.0):
        n = real.size(0)
        if self.joint:
            adv, cls, q = self._critic(torch.cat([real, fake.to(real.dtype)]))
            adv_real, adv_fake, cls_real, q_fake = adv[:n], adv[n:], cls[:n], None if q is None else q[n:]
        else:
            adv_real, cls_real, _ = self._critic(real)
            adv_fake, _, q_fake = self._critic(fake.to(real.dtype))
        df_loss = losses.d_adversarial(self.mode, adv_real, adv_fake)
        other = fake if self.mode == "wgan" else None  # lsgan/dcgan: DRAGAN interpolates
        df_gp = losses.gradient_penalty(lambda x: self.D(x)[0], real, other)
        dc_loss = losses.classification(cls_real, att_a)
        d_loss = df_loss + self.lambda_gp * df_gp + self.lambda_3 * dc_loss
        parts = {"d_loss": d_loss, "df_loss": df_loss, "df_gp": df_gp, "dc_loss": dc_loss}
        if theta is not None and q_fake is not None:  # style model: Q learns to read theta off the fakes
            parts["dq_loss"] = style_loss(q_fake, theta, style_mask)
            d_loss = d_loss + lambda_style * parts["dq_loss"]
            parts["d_loss"] = d_loss
        return d_loss, parts


class GStep(nn.Module):
    """Encode once, decode to the target (edit) and to the source (reconstruction)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.G = generator

    def forward(self, x: torch.Tensor, att_a_: torch.Tensor, att_b_: torch.Tensor, theta: torch.Tensor | None = None,
                with_neutral: bool = False):
        """(edit, reconstruction, neutral-style edit or None). The edit gets the sampled style, the
        reconstruction the neutral 0; ``with_neutral`` also decodes the edit at style 0 (no gradient)."""
        zs = self.G.encode(x)
        neutral = None
        if with_neutral:
            with torch.no_grad():
                neutral = self.G.decode(zs, att_b_)
        return self.G.decode(zs, att_b_, theta), self.G.decode(zs, att_a_), neutral


def g_loss(mode: str, discriminator: nn.Module, x: torch.Tensor, fake: torch.Tensor, rec: torch.Tensor,
           att_b: torch.Tensor, lambda_1: float, lambda_2: float, augment: Augment | None = None,
           theta: torch.Tensor | None = None, style_mask: torch.Tensor | None = None, lambda_style: float = 0.0,
           neutral: torch.Tensor | None = None, lambda_style_l1: float = 0.0):
    """-D(fake) (per mode) + lambda_2 * BCE(C(fake), b) + lambda_1 * L1(rec, x)
    [+ lambda_style * Q's error on theta [+ lambda_style_l1 * L1(fake, neutral)] for a style model];
    D is not updated."""
    d_fake, dc_fake, q_fake = discriminator.heads(augment(fake) if augment else fake)
    gf_loss = losses.g_adversarial(mode, d_fake)
    gc_loss = losses.classification(dc_fake, att_b)
    gr_loss = losses.reconstruction(rec, x)
    total = gf_loss + lambda_2 * gc_loss + lambda_1 * gr_loss
    parts = {"g_loss": total, "gf_loss": gf_loss, "gc_loss": gc_loss, "gr_loss": gr_loss}
    if theta is not None and q_fake is not None:
        parts["gq_loss"] = style_loss(q_fake, theta, style_mask)
        total = total + lambda_style * parts["gq_loss"]
        if neutral is not None:  # sparse change: the cheapest way to show theta is a local one
            parts["gs_l1"] = (fake - neutral).abs().mean()
            total = total + lambda_style_l1 * parts["gs_l1"]
        parts["g_loss"] = total
    return total, parts
