"""Style controllers: sampling the codes and the mutual-information term (the AttGAN paper's extension).

Each styled attribute i gets ``dims`` continuous codes theta_i ~ U(-1, 1), fed to the decoder after
the attribute vector. Q (the critic's ``fc_style`` head) predicts theta from the generated image;
maximising the InfoGAN lower bound on I(theta; G(x, b, theta)) with a fixed-variance Gaussian Q is
minimising Q's squared error, added to both the G and the D objective.

Two choices the paper leaves open, made here and why:
- The term counts only where the target turns the attribute *on*: the style of glasses that are
  not drawn cannot be read from the image, and asking for it would push G to leak theta elsewhere.
- Reconstruction uses theta = 0, so 0 means "as the input is" and inference defaults to it.
"""
from __future__ import annotations

import torch

from ..model.config import AttGANSettings


def sample_style(att_b: torch.Tensor, settings: AttGANSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """(theta (N, n_style) ~ U(-1, 1), mask (N, n_style): 1 where the code's attribute is on in b)."""
    n = att_b.shape[0]
    theta = torch.rand(n, settings.n_style, device=att_b.device) * 2 - 1
    mask = torch.cat([att_b[:, settings.attrs.index(name)].float()[:, None].expand(n, dims)
                      for name, dims in settings.style.items()], dim=1)
    return theta, mask


def style_loss(predicted: torch.Tensor, theta: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Q's mean squared error over the codes whose attribute is drawn (0 when none is)."""
    err = (predicted.float() - theta.float()).pow(2) * mask
    return err.sum() / mask.sum().clamp(min=1)
