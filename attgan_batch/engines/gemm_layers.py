"""Exact GEMM forms of the generator's small-spatial layers, used only for the exported graph.

Why: the layers next to the bottleneck hold most of the weights (the first decoder layer alone has
17M) but see tiny feature maps (4x4, 8x8 at 128 px). Convolution kernels tile those maps poorly;
written as matrix multiplies over every pixel of the batch they run at full GEMM speed. The
transposed convolutions there also take Winograd's form, which cuts their multiplies to 9/16.
Measured with `benchmarks/backends.py` and `benchmarks/graph_forms.py`: the GEMM forms made OpenVINO
1.06x and ONNX Runtime 1.12x faster on the whole generator, Winograd OpenVINO another ~1.1x (ONNX
Runtime unchanged). The outputs match the PyTorch layers to ~3e-7 (the export's parity check proves
it on every export). The PyTorch model itself is never changed: checkpoints load into the
reference layout.

Which layers: 4x4 stride-2 pad-1 convolutions whose *output* is at most 4x4, and transposed
convolutions whose *input* is at most 8x8 and even (larger ones were measured slower in these forms).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

GRAPH_FORM = "gemm-winograd-small-spatial-2"  # recorded in each ONNX sidecar; an older form is re-exported
MAX_CONV_OUTPUT_SIDE = 4
MAX_DECONV_INPUT_SIDE = 8


def is_k4s2p1(conv: nn.Module) -> bool:
    return (conv.kernel_size == (4, 4) and conv.stride == (2, 2) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1
            and (not isinstance(conv, nn.ConvTranspose2d) or conv.output_padding == (0, 0)))


def gemm_weight(weight: torch.Tensor) -> torch.Tensor:
    """A Conv2d(k=4) weight (out, in, 4, 4) as the (16*in, out) matrix of its im2col form (tap-major)."""
    return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()


class ConvAsGemm(nn.Module):
    """Conv2d(k=4, s=2, p=1) as im2col (16 strided slices) and one matrix multiply."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.register_buffer("weight", gemm_weight(conv.weight.detach()))  # (16*in, out)
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


# Transposed conv, k=4 s=2 p=1, one dimension: output 2m+p (parity p) is a 2-tap filter over input
# m-1+p, m+p; its kernel taps are (3, 1) for p=0 and (2, 0) for p=1.
_PARITY_TAPS = {0: (3, 1), 1: (2, 0)}
# Winograd F(2,2): two outputs of a 2-tap filter g over inputs d0..d2 with three multiplies,
# y = A [(B d) * (G g)]; every entry is 0 or +-1, so the transforms only add and subtract (no scaling
# that would cost precision, unlike larger Winograd tiles).
_B = ((1, -1, 0), (0, 1, 0), (0, -1, 1))
_G = ((1, 0), (1, 1), (0, 1))
_A = ((1, 1, 0), (0, 1, 1))


def _winograd_1d() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B 6x4, G 6x4, A 4x6) for one tile: padded input rows 2t..2t+3 -> output rows 4t..4t+3.

    Parity p takes input rows 2t+p..2t+p+2 and gives outputs 4t+p and 4t+2+p; its three
    transformed values are rows 3p..3p+2.
    """
    b, g, a = (torch.zeros(shape, dtype=torch.float64) for shape in ((6, 4), (6, 4), (4, 6)))
    for p in (0, 1):
        for r in range(3):
            b[3 * p + r, p:p + 3] = torch.tensor(_B[r], dtype=torch.float64)
            for k in range(2):
                g[3 * p + r, _PARITY_TAPS[p][k]] += _G[r][k]
        for o in range(2):
            a[2 * o + p, 3 * p:3 * p + 3] = torch.tensor(_A[o], dtype=torch.float64)
    return b, g, a


def winograd_transforms() -> tuple[torch.Tensor, torch.Tensor]:
    """(input transform 36x16 taps, output transform 16 outputs x 36), float64; entries 0 and +-1."""
    b, _, a = _winograd_1d()
    return torch.kron(b, b), torch.kron(a, a)


def winograd_filter_transform() -> torch.Tensor:
    """(36, 16): the 4x4 kernel taps (ky, kx) of a ConvTranspose2d(k=4) weight -> its 36 Winograd values; 0 or 1."""
    _, g, _ = _winograd_1d()
    return torch.kron(g, g)


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """A ConvTranspose2d(k=4) weight (in, out, 4, 4) in Winograd's domain: (36, in, out), float64."""
    taps = weight.double().permute(2, 3, 0, 1).reshape(16, -1)
    return (winograd_filter_transform() @ taps).reshape(36, weight.shape[0], weight.shape[1])


class ConvTransposeWinograd(nn.Module):
    """ConvTranspose2d(k=4, s=2, p=1) as Winograd F(2x2, 2x2) on each of its four output parities.

    Each parity is a 2x2 convolution, 16 multiplies per 2x2 outputs done directly, 9 with Winograd:
    the matrix multiplies shrink to 9/16. Per tile of 4x4 outputs: 16 input taps -> 36 transformed
    values (one small matrix multiply), 36 GEMMs over every tile of the batch (channels in, channels
    out), 36 -> 16 outputs (another small one). Weights are transformed once, in float64.
    """

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        w = deconv.weight.detach()  # (in, out, 4, 4)
        self.out_channels = w.shape[1]
        input_transform, output_transform = winograd_transforms()
        self.register_buffer("weight", winograd_weight(w).to(w.dtype))  # (36, in, out)
        self.register_buffer("input_transform", input_transform.to(w.dtype))  # (36, 16 taps)
        self.register_buffer("output_transform", output_transform.to(w.dtype))  # (16 outputs, 36)
        self.register_buffer("bias", None if deconv.bias is None else deconv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        th, tw, co = h // 2, w // 2, self.out_channels
        xp = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(n, th + 1, 2, tw + 1, 2, c)
        taps = [xp[:, j // 2:j // 2 + th, j % 2, k // 2:k // 2 + tw, k % 2] for j in range(4) for k in range(4)]
        v = (self.input_transform @ torch.stack(taps).reshape(16, -1)).reshape(36, n * th * tw, c)
        m = torch.stack([v[i] @ self.weight[i] for i in range(36)])  # 36 plain GEMMs: the fastest form measured
        y = (self.output_transform @ m.reshape(36, -1)).reshape(4, 4, n, th, tw, co)
        y = y.permute(2, 5, 3, 0, 4, 1).reshape(n, co, 2 * h, 2 * w)
        if self.bias is not None:
            y = y + self.bias[None, :, None, None]
        return y


def small_spatial_layers(img_size: int, n_enc: int, n_dec: int, *, max_conv_side: int = MAX_CONV_OUTPUT_SIDE,
                         max_deconv_side: int = MAX_DECONV_INPUT_SIDE) -> tuple[set[int], set[int]]:
    """Which encoder layers take the GEMM form and which decoder layers the Winograd form.

    The one rule both the PyTorch copy (with_gemm_layers) and the direct ONNX writer (onnx_writer)
    follow; the limits are parameters only so that `benchmarks/graph_forms.py` can compare others."""
    convs, deconvs = set(), set()
    side = img_size
    for i in range(n_enc):
        side //= 2
        if side <= max_conv_side:
            convs.add(i)
    for i in range(n_dec):
        if side <= max_deconv_side and side % 2 == 0:
            deconvs.add(i)
        side *= 2
    return convs, deconvs


def with_gemm_layers(generator: nn.Module, img_size: int, *, max_conv_side: int = MAX_CONV_OUTPUT_SIDE,
                     max_deconv_side: int = MAX_DECONV_INPUT_SIDE) -> nn.Module:
    """A copy of ``generator`` whose small-spatial (de)convolutions are their GEMM forms."""
    model = copy.deepcopy(generator)
    convs, deconvs = small_spatial_layers(img_size, len(model.enc_layers), len(model.dec_layers),
                                          max_conv_side=max_conv_side, max_deconv_side=max_deconv_side)
    for i, block in enumerate(model.enc_layers):
        conv = block.layers[0]
        if i in convs and isinstance(conv, nn.Conv2d) and is_k4s2p1(conv):
            block.layers[0] = ConvAsGemm(conv)
    for i, block in enumerate(model.dec_layers):
        deconv = block.layers[0]
        if i in deconvs and isinstance(deconv, nn.ConvTranspose2d) and is_k4s2p1(deconv):
            block.layers[0] = ConvTransposeWinograd(deconv)
    return model
