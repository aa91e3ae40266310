"""AttGAN generator: a conv encoder and a transposed-conv decoder with skips and attribute injection.

Parameter names and shapes match the reference AttGAN-PyTorch ``Generator`` so its published
weights load unchanged. Two deliberate improvements that do not change outputs: skip widths are
taken from the actual encoder widths (the reference assumes ``dec width / 2``), and the attribute
tile size comes from the feature map instead of being fixed at construction.

With style controllers (``n_style > 0``, the paper's extension) the decoder is conditioned on
``[attributes, style codes]`` instead of the attributes alone; with ``n_style = 0`` (every
published model) nothing changes.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import Conv2dBlock, ConvTranspose2dBlock
from .config import MAX_DIM, AttGANSettings


def _tile(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Attribute vector (N, A) broadcast to the spatial size of ``like`` (N, C, H, W)."""
    return a[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


class Generator(nn.Module):
    def __init__(
        self,
        enc_dim: int = 64,
        enc_layers: int = 5,
        enc_norm: str = "batchnorm",
        enc_acti: str = "lrelu",
        dec_dim: int = 64,
        dec_layers: int = 5,
        dec_norm: str = "batchnorm",
        dec_acti: str = "relu",
        n_attrs: int = 13,
        shortcut_layers: int = 1,
        inject_layers: int = 0,
        n_style: int = 0,
    ):
        super().__init__()
        self.n_attrs, self.n_style = n_attrs, n_style
        n_cond = n_attrs + n_style
        self.shortcut_layers = min(shortcut_layers, dec_layers - 1)
        self.inject_layers = min(inject_layers, dec_layers - 1)

        enc_widths = [min(enc_dim * 2**i, MAX_DIM) for i in range(enc_layers)]
        self.enc_layers = nn.ModuleList()
        n_in = 3
        for width in enc_widths:
            self.enc_layers.append(Conv2dBlock(n_in, width, enc_norm, enc_acti))
            n_in = width

        self.dec_layers = nn.ModuleList()
        n_in = n_in + n_cond
        for i in range(dec_layers - 1):
            width = min(dec_dim * 2 ** (dec_layers - 1 - i), MAX_DIM)
            self.dec_layers.append(ConvTranspose2dBlock(n_in, width, dec_norm, dec_acti))
            n_in = width
            if self.shortcut_layers > i:
                n_in += enc_widths[dec_layers - 2 - i]
            if self.inject_layers > i:
                n_in += n_cond
        self.dec_layers.append(ConvTranspose2dBlock(n_in, 3, "none", "tanh"))

    @classmethod
    def from_settings(cls, s: AttGANSettings) -> "Generator":
        return cls(
            enc_dim=s.enc_dim, enc_layers=s.enc_layers, enc_norm=s.enc_norm, enc_acti=s.enc_acti,
            dec_dim=s.dec_dim, dec_layers=s.dec_layers, dec_norm=s.dec_norm, dec_acti=s.dec_acti,
            n_attrs=s.n_attrs, shortcut_layers=s.shortcut_layers, inject_layers=s.inject_layers,
            n_style=s.n_style,
        )

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All encoder feature maps, shallowest first (the decoder's skips need them)."""
        zs = []
        for layer in self.enc_layers:
            x = layer(x)
            zs.append(x)
        return zs

    def condition(self, a: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's conditioning vector: ``a``, then the style codes (zeros = neutral style)."""
        if not self.n_style:
            if style is not None and style.numel():
                raise ValueError("this generator has no style controllers; train one with --style")
            return a
        if style is None:
            style = a.new_zeros(a.shape[0], self.n_style)
        return torch.cat([a, style.to(a.dtype)], dim=1)

    def decode(self, zs: list[torch.Tensor], a: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        a = self.condition(a, style).to(zs[-1].dtype)
        z = torch.cat([zs[-1], _tile(a, zs[-1])], dim=1)
        n_dec = len(self.dec_layers)
        for i, layer in enumerate(self.dec_layers):
            z = layer(z)
            if self.shortcut_layers > i:
                z = torch.cat([z, zs[n_dec - 2 - i]], dim=1)
            if self.inject_layers > i:
                z = torch.cat([z, _tile(a, z)], dim=1)
        return z

    def forward(self, x: torch.Tensor, a: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Edit images ``x`` (N, 3, H, W) in [-1, 1] towards scaled attributes ``a`` (N, n_attrs),
        with style codes ``style`` (N, n_style) in [-1, 1] when the model has them."""
        return self.decode(self.encode(x), a, style)
