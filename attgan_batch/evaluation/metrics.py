"""Image and attribute metrics in plain torch (no extra dependencies).

Images are (N, 3, H, W) tensors in [-1, 1], as the generator sees them; PSNR and SSIM are computed
on the [0, 1] rescaling (data range 1), per image, so callers can average or inspect them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x.float().add(1).div(2).clamp(0, 1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of [-1, 1] images (inf where the images are identical)."""
    mse = (_unit(x) - _unit(y)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)  # mse 0 gives +inf, as it should


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004): Gaussian window 11 / sigma 1.5, valid region, mean over
    channels and positions. The window shrinks for images smaller than 11 px. Moments in float64."""
    a, b = _unit(x).double(), _unit(y).double()  # E[x^2] - E[x]^2 cancels badly in float32
    channels = a.shape[1]
    size = min(window, a.shape[-1], a.shape[-2])
    w = _gaussian_window(size, sigma, channels, a.device, a.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.pow(2)
    var_b = blur(b * b) - mu_b.pow(2)
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = k1 ** 2, k2 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.pow(2) + mu_b.pow(2) + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).float()


def edit_hits(pred_new: torch.Tensor, target_new: torch.Tensor) -> torch.Tensor:
    """1 where the classifier sees the edited attribute at its new value (per image, 1-D inputs)."""
    return (pred_new.float() == target_new.float()).float()


def preservation_errors(pred_edited: torch.Tensor, pred_input: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Per image: the fraction of attributes meant to stay (``keep`` mask) whose prediction changed.

    Compared with the prediction on the *input*, not the labels, so classifier mistakes that the
    edit leaves alone do not count against the generator. NaN where nothing was meant to stay.
    """
    changed = (pred_edited != pred_input).float() * keep
    return changed.sum(1) / keep.sum(1)
