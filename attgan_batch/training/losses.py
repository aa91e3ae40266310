"""The AttGAN loss terms for the three GAN modes of the reference (wgan, lsgan, dcgan).

wgan uses the WGAN-GP penalty on real/fake interpolates; lsgan and dcgan use the DRAGAN penalty
(interpolates between real images and a noisy copy of them). The penalty is always computed in
fp32, outside autocast: the double backward is where reduced precision breaks first.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

MODES = ("wgan", "lsgan", "dcgan")


def interpolates(real: torch.Tensor, fake: torch.Tensor | None = None) -> torch.Tensor:
    """Random points between ``real`` and ``fake`` (WGAN-GP), or real and a perturbed real (DRAGAN)."""
    if fake is None:
        beta = torch.rand_like(real)
        fake = real + 0.5 * real.var().sqrt() * beta
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    return real + alpha * (fake - real)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over samples of ``(||d critic / d x|| - 1)^2`` at interpolates, differentiable (create_graph)."""
    with torch.autocast(real.device.type, enabled=False):
        x = interpolates(real.float(), None if fake is None else fake.float()).requires_grad_(True)
        pred = critic(x).float()
        (grad,) = torch.autograd.grad(pred, x, grad_outputs=torch.ones_like(pred), create_graph=True)
        norm = grad.flatten(1).norm(2, dim=1)
        return ((norm - 1.0) ** 2).mean()


def d_adversarial(mode: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Critic loss on real vs fake logits."""
    d_real, d_fake = d_real.float(), d_fake.float()
    if mode == "wgan":
        return -(d_real.mean() - d_fake.mean())
    if mode == "lsgan":
        return F.mse_loss(d_real, torch.ones_like(d_real)) + F.mse_loss(d_fake, torch.zeros_like(d_fake))
    if mode == "dcgan":
        return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


def g_adversarial(mode: str, d_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss on the critic's logits for its edits."""
    d_fake = d_fake.float()
    if mode == "wgan":
        return -d_fake.mean()
    if mode == "lsgan":
        return F.mse_loss(d_fake, torch.ones_like(d_fake))
    if mode == "dcgan":
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


def classification(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


def reconstruction(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(rec.float(), x.float())
