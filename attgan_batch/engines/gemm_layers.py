"""Exact GEMM forms of the generator's small-spatial layers, used only for the exported graph.

Why: the layers next to the bottleneck hold most of the weights (the first decoder layer alone has
17M) but see tiny feature maps (4x4, 8x8 at 128 px). Convolution kernels tile those maps poorly;
written as one matrix multiply over every pixel of the batch they run at full GEMM speed. Measured
with `benchmarks/backends.py`: OpenVINO 1.06x and ONNX Runtime 1.12x faster on the whole
generator; the outputs match the PyTorch layers to ~2e-7 (the export's parity check proves it on
every export). The PyTorch model itself is never changed: checkpoints load into the reference layout.

Which layers: 4x4 stride-2 pad-1 convolutions whose *output* is at most 4x4, and transposed
convolutions whose *input* is at most 8x8 (larger ones were measured slower as GEMMs).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

GRAPH_FORM = "gemm-small-spatial-1"  # recorded in each ONNX sidecar; an older form is re-exported
MAX_CONV_OUTPUT_SIDE = 4
MAX_DECONV_INPUT_SIDE = 8


def _is_k4s2p1(conv: nn.Module) -> bool:
    return (conv.kernel_size == (4, 4) and conv.stride == (2, 2) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1
            and (not isinstance(conv, nn.ConvTranspose2d) or conv.output_padding == (0, 0)))


class ConvAsGemm(nn.Module):
    """Conv2d(k=4, s=2, p=1) as im2col (16 strided slices) and one matrix multiply."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        w = conv.weight.detach()  # (out, in, 4, 4)
        self.register_buffer("weight", w.permute(2, 3, 1, 0).reshape(-1, w.shape[0]).contiguous())  # (16*in, out)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        oh, ow = h // 2, w // 2
        xp = F.pad(x, (1, 1, 1, 1))
        taps = [xp[:, :, ky:ky + 2 * oh:2, kx:kx + 2 * ow:2] for ky in range(4) for kx in range(4)]
        cols = torch.cat(taps, 1).permute(0, 2, 3, 1).reshape(n * oh * ow, 16 * c)
        y = cols @ self.weight
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(n, oh, ow, -1).permute(0, 3, 1, 2)


# Transposed conv, k=4 s=2 p=1: output row 2m gets tap ky=1 from input row m and ky=3 from row m-1;
# row 2m+1 gets ky=2 from row m and ky=0 from row m+1 (the same for columns).
_TAPS = {0: ((1, 0), (3, 1)), 1: ((2, 0), (0, -1))}  # output parity -> ((kernel index, input shift), ...)


def _shift(t: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """t (n, h, w, c) moved by dy rows / dx columns (+1: take the previous one), zero filled."""
    if dy == 1:
        t = F.pad(t[:, :-1], (0, 0, 0, 0, 1, 0))
    elif dy == -1:
        t = F.pad(t[:, 1:], (0, 0, 0, 0, 0, 1))
    if dx == 1:
        t = F.pad(t[:, :, :-1], (0, 0, 1, 0))
    elif dx == -1:
        t = F.pad(t[:, :, 1:], (0, 0, 0, 1))
    return t


class ConvTransposeAsGemm(nn.Module):
    """ConvTranspose2d(k=4, s=2, p=1) as one matrix multiply and a col2im made of shifted adds."""

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        w = deconv.weight.detach()  # (in, out, 4, 4)
        self.out_channels = w.shape[1]
        self.register_buffer("weight", w.permute(0, 2, 3, 1).reshape(w.shape[0], -1).contiguous())  # (in, 16*out)
        self.register_buffer("bias", None if deconv.bias is None else deconv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        co = self.out_channels
        cols = (x.permute(0, 2, 3, 1).reshape(n * h * w, c) @ self.weight).reshape(n, h, w, 4, 4, co)
        phases = []
        for py in (0, 1):
            for px in (0, 1):
                parts = [_shift(cols[:, :, :, ky, kx, :], dy, dx) for ky, dy in _TAPS[py] for kx, dx in _TAPS[px]]
                phases.append(parts[0] + parts[1] + parts[2] + parts[3])
        y = torch.stack(phases, 3).reshape(n, h, w, 2, 2, co).permute(0, 5, 1, 3, 2, 4).reshape(n, co, 2 * h, 2 * w)
        if self.bias is not None:
            y = y + self.bias[None, :, None, None]
        return y


def with_gemm_layers(generator: nn.Module, img_size: int) -> nn.Module:
    """A copy of ``generator`` whose small-spatial (de)convolutions are their GEMM forms."""
    model = copy.deepcopy(generator)
    side = img_size
    for block in model.enc_layers:
        conv = block.layers[0]
        side //= 2
        if isinstance(conv, nn.Conv2d) and _is_k4s2p1(conv) and side <= MAX_CONV_OUTPUT_SIDE:
            block.layers[0] = ConvAsGemm(conv)
    for block in model.dec_layers:
        deconv = block.layers[0]
        if isinstance(deconv, nn.ConvTranspose2d) and _is_k4s2p1(deconv) and side <= MAX_DECONV_INPUT_SIDE:
            block.layers[0] = ConvTransposeAsGemm(deconv)
        side *= 2
    return model
