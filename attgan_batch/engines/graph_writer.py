"""The generator's inference graph, written layer by layer from its weights into a graph builder.

Why not torch.onnx.export: the dynamo exporter and its optimiser took 25-35 s for the default-width
128 px generator, the legacy one ~6 s, while the graph is a fixed, small set of layer kinds (4x4
stride-2 convolutions and transposed convolutions, BatchNorm or InstanceNorm, ReLU / LeakyReLU /
Tanh / Sigmoid, attribute tiling, concatenations, an optional style input). This module writes
exactly that graph in well under a second: BatchNorm folded into the (transposed) convolution in
float64, and with ``graph="cpu"`` the small-spatial layers in the exact GEMM / Winograd forms of
:mod:`.gemm_layers` (same layer choice, same weight transforms). ``graph="plain"`` keeps every layer
a ``Conv`` / ``ConvTranspose`` node (TensorRT picks its own convolution tactics).

One translation, two builders, so the two outputs cannot drift apart: :mod:`.onnx_writer`
serialises the graph as an ONNX file (ONNX Runtime, TensorRT, ``build-engine``) and
:mod:`.openvino_graph` builds it as an in-memory OpenVINO model (the default CPU engine, no file at
all). The vocabulary is ONNX's operators and attributes, which both builders understand.

It never guesses: a module it does not know raises :class:`WriterUnsupported`, and the caller then
falls back to torch's exporters (engines.export). Every written graph goes through a parity check
against the untouched PyTorch model before it is used.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from .gemm_layers import is_k4s2p1, small_spatial_layers, winograd_filter_transform, winograd_transforms
from .graph_io import INPUT_NAMES, OUTPUT_NAME, STYLE_INPUT

GRAPHS = ("cpu", "plain")
GRAPH_PRECISIONS = ("fp32", "fp16")
FLOAT, FLOAT16 = 1, 10  # ONNX TensorProto element types (the ``to`` of a Cast node)
_ACTIVATIONS = {nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid"}


class WriterUnsupported(ValueError):
    """The generator contains something this writer does not translate (then torch's exporter is used)."""


class GraphBuilder(Protocol):
    """What :func:`write_generator` needs from an output format. A value is whatever the builder
    uses to refer to a tensor (a name in ONNX, a node output in OpenVINO)."""

    dtype: Any  # numpy dtype of weights and activations (float32, or float16 for an fp16 graph)

    def const(self, hint: str, value: Any, dtype: Any = None) -> Any:
        """A constant (numpy or torch); kept as it is, not copied, until the graph is serialised."""

    def ints(self, hint: str, values: list[int]) -> Any:
        """An int64 constant (shapes, axes, pads, slice bounds)."""

    def op(self, op_type: str, inputs: list[Any], hint: str | None = None, **attributes: Any) -> Any:
        """One ONNX operator (opset 18 semantics) on ``inputs``; its single output."""

    def input(self, name: str, shape: list[Any]) -> Any:
        """A float32 graph input; ``shape``'s first entry is the dynamic batch axis ("batch")."""

    def output(self, name: str, value: Any, shape: list[Any]) -> None:
        """Make ``value`` the float32 graph output ``name``."""


def _folded(block: nn.Module, transposed: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None,
                                                         nn.Module | None, nn.Module | None]:
    """(weight, BatchNorm scale per output channel or None, bias or None, InstanceNorm or None, activation or None).

    The scale is not applied here: each layer form multiplies it in while writing its own weight layout
    (one pass over the weights; this machine copies ~1 GB/s)."""
    layers = list(block.layers)
    conv = layers.pop(0)
    kind = nn.ConvTranspose2d if transposed else nn.Conv2d
    if type(conv) is not kind or not is_k4s2p1(conv):
        raise WriterUnsupported(f"expected a 4x4 stride-2 {kind.__name__}, found {conv!r}")
    weight = conv.weight.detach().float()
    bias = None if conv.bias is None else conv.bias.detach().double()
    scale = instance_norm = activation = None
    if layers and isinstance(layers[0], (nn.BatchNorm2d, nn.InstanceNorm2d)):
        norm = layers.pop(0)
        if type(norm) is nn.BatchNorm2d:
            if norm.running_mean is None or norm.running_var is None or not norm.affine:
                raise WriterUnsupported(f"BatchNorm2d without running statistics or affine parameters: {norm!r}")
            scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)
            shift = norm.bias.detach().double() - norm.running_mean.double() * scale
            bias = shift if bias is None else bias * scale + shift
        elif type(norm) is nn.InstanceNorm2d and norm.affine and not norm.track_running_stats:
            instance_norm = norm
        else:
            raise WriterUnsupported(f"unsupported normalisation {norm!r}")
    if layers:
        activation = layers.pop(0)
        if type(activation) not in (*_ACTIVATIONS, nn.LeakyReLU):
            raise WriterUnsupported(f"unsupported activation {activation!r}")
    if layers:
        raise WriterUnsupported(f"unexpected layers after the activation: {layers!r}")
    return weight, None if scale is None else scale.float(), bias, instance_norm, activation


def _scaled(weight: torch.Tensor, permutation: tuple[int, ...], scale: torch.Tensor | None,
            out_axis: int) -> torch.Tensor:
    """``weight.permute(permutation)``, contiguous, times ``scale`` along ``out_axis`` of the result: one pass."""
    view = weight.permute(permutation)
    out = torch.empty(view.shape, dtype=torch.float32)
    if scale is None:
        return out.copy_(view)
    shape = [1] * view.dim()
    shape[out_axis] = -1
    return torch.mul(view, scale.reshape(shape), out=out)


def _after(g: GraphBuilder, x: Any, instance_norm: nn.Module | None, activation: nn.Module | None, hint: str) -> Any:
    if instance_norm is not None:
        x = g.op("InstanceNormalization", [x, g.const(f"{hint}.in_scale", instance_norm.weight.float()),
                                           g.const(f"{hint}.in_bias", instance_norm.bias.float())],
                 epsilon=float(instance_norm.eps))
    if activation is None:
        return x
    if isinstance(activation, nn.LeakyReLU):
        return g.op("LeakyRelu", [x], alpha=float(activation.negative_slope))
    return g.op(_ACTIVATIONS[type(activation)], [x])


def _bias(g: GraphBuilder, bias: torch.Tensor, hint: str, shape: tuple[int, ...] = (-1,)) -> Any:
    return g.const(f"{hint}.bias", bias.float().reshape(shape))


def _conv(g: GraphBuilder, x: Any, weight: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None,
          hint: str, transposed: bool) -> Any:
    """A plain Conv / ConvTranspose node (both keep torch's weight layout; out channels on axis 0 / 1)."""
    inputs = [x, g.const(f"{hint}.weight", _scaled(weight, (0, 1, 2, 3), scale, 1 if transposed else 0))]
    if bias is not None:
        inputs.append(_bias(g, bias, hint))
    return g.op("ConvTranspose" if transposed else "Conv", inputs, kernel_shape=[4, 4], strides=[2, 2],
                pads=[1, 1, 1, 1])


def _conv_gemm(g: GraphBuilder, x: Any, weight: torch.Tensor, scale: torch.Tensor | None,
               bias: torch.Tensor | None, side: int, hint: str) -> Any:
    """gemm_layers.ConvAsGemm: 16 strided taps concatenated (im2col), one MatMul, back to NCHW."""
    out, cin = weight.shape[:2]
    oh = side // 2
    xp = g.op("Pad", [x, g.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])])
    axes, steps = g.ints("axes", [2, 3]), g.ints("steps", [2, 2])
    taps = [g.op("Slice", [xp, g.ints("starts", [ky, kx]), g.ints("ends", [ky + 2 * oh, kx + 2 * oh]), axes, steps])
            for ky in range(4) for kx in range(4)]
    cols = g.op("Concat", taps, axis=1)
    cols = g.op("Reshape", [g.op("Transpose", [cols], perm=[0, 2, 3, 1]), g.ints("shape", [-1, 16 * cin])])
    matrix = _scaled(weight, (2, 3, 1, 0), scale, 3).reshape(16 * cin, out)  # gemm_layers.gemm_weight, scaled
    y = g.op("MatMul", [cols, g.const(f"{hint}.gemm_weight", matrix)])
    if bias is not None:
        y = g.op("Add", [y, _bias(g, bias, hint)])
    y = g.op("Reshape", [y, g.ints("shape", [-1, oh, oh, out])])
    return g.op("Transpose", [y], perm=[0, 3, 1, 2])


def _deconv_winograd(g: GraphBuilder, x: Any, weight: torch.Tensor, scale: torch.Tensor | None,
                     bias: torch.Tensor | None, side: int, hint: str) -> Any:
    """gemm_layers.ConvTransposeWinograd: 16 input taps -> 36 transformed, 36 MatMuls, 36 -> 16 outputs."""
    cin, co = weight.shape[:2]
    t = side // 2
    input_transform, output_transform = winograd_transforms()
    taps_weight = _scaled(weight, (2, 3, 0, 1), scale, 3).reshape(16, cin * co)  # (ky, kx, in, out)
    # gemm_layers.winograd_weight, in float32: the transform's entries are 0 and 1, each value a sum of <= 4 weights
    u = (winograd_filter_transform().float() @ taps_weight).reshape(36, cin, co)
    xp = g.op("Pad", [x, g.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])])
    xp = g.op("Reshape", [g.op("Transpose", [xp], perm=[0, 2, 3, 1]), g.ints("shape", [-1, t + 1, 2, t + 1, 2, cin])])
    axes, tap_shape = g.ints("axes", [1, 2, 3, 4]), g.ints("shape", [1, -1, t, t, cin])
    taps = []
    for j in range(4):
        for k in range(4):
            starts = [j // 2, j % 2, k // 2, k % 2]
            ends = [j // 2 + t, j % 2 + 1, k // 2 + t, k % 2 + 1]
            tap = g.op("Slice", [xp, g.ints("starts", starts), g.ints("ends", ends), axes])
            taps.append(g.op("Reshape", [tap, tap_shape]))
    v = g.op("Reshape", [g.op("Concat", taps, axis=0), g.ints("shape", [16, -1])])
    v = g.op("MatMul", [g.const(f"{hint}.input_transform", input_transform), v])
    v = g.op("Reshape", [v, g.ints("shape", [36, -1, cin])])
    products = []
    for i in range(36):  # 36 plain GEMMs: the fastest form measured (gemm_layers)
        vi = g.op("Gather", [v, g.const("index", np.asarray(i, dtype=np.int64), np.int64)], axis=0)
        mi = g.op("MatMul", [vi, g.const(f"{hint}.winograd_weight{i}", u[i])])
        products.append(g.op("Unsqueeze", [mi, g.ints("axes", [0])]))
    m = g.op("Reshape", [g.op("Concat", products, axis=0), g.ints("shape", [36, -1])])
    y = g.op("MatMul", [g.const(f"{hint}.output_transform", output_transform), m])
    y = g.op("Reshape", [y, g.ints("shape", [4, 4, -1, t, t, co])])
    y = g.op("Transpose", [y], perm=[2, 5, 3, 0, 4, 1])
    y = g.op("Reshape", [y, g.ints("shape", [-1, co, 2 * side, 2 * side])])
    if bias is not None:
        y = g.op("Add", [y, _bias(g, bias, hint, (-1, 1, 1))])
    return y


def _block(g: GraphBuilder, x: Any, block: nn.Module, hint: str, side: int, *, transposed: bool,
           cpu_form: bool) -> Any:
    """One encoder (or, ``transposed``, decoder) block on a ``side`` x ``side`` input: its convolution
    plain or in its CPU form (GEMM for convolutions, Winograd for transposed ones), then norm and activation."""
    weight, scale, bias, norm, act = _folded(block, transposed=transposed)
    if cpu_form:
        x = (_deconv_winograd if transposed else _conv_gemm)(g, x, weight, scale, bias, side, hint)
    else:
        x = _conv(g, x, weight, scale, bias, hint, transposed)
    return _after(g, x, norm, act, hint)


def _tile(g: GraphBuilder, cond: Any, side: int) -> Any:
    """Attribute (+ style) vector (N, A) broadcast to (N, A, side, side)."""
    return g.op("Expand", [g.op("Unsqueeze", [cond, g.ints("axes", [2, 3])]), g.ints("shape", [1, 1, side, side])])


def check_supported(generator: nn.Module) -> None:
    """WriterUnsupported unless ``generator`` is this package's Generator (the writer reads its structure)."""
    from ..model import Generator

    if type(generator) is not Generator:
        raise WriterUnsupported(f"the direct writer translates attgan_batch's Generator, "
                                f"not {type(generator).__name__}")


def write_generator(g: GraphBuilder, generator: nn.Module, *, img_size: int, n_attrs: int, precision: str = "fp32",
                    graph: str = "cpu", layer_limits: dict[str, int] | None = None) -> None:
    """Write the generator's graph into ``g``: inputs image, attributes[, style]; output edited.

    ``precision="fp16"``: fp16 weights and compute (``g.dtype`` float16), fp32 inputs and outputs
    through Cast nodes. ``layer_limits``: other ``max_conv_side`` / ``max_deconv_side`` for the "cpu"
    form's layer choice (gemm_layers.small_spatial_layers), only so that `benchmarks/graph_forms.py`
    can compare them."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    if precision not in GRAPH_PRECISIONS:
        raise ValueError(f"the graph writer writes fp32 or fp16 graphs, not {precision!r}")
    check_supported(generator)
    n_style = int(getattr(generator, "n_style", 0))
    if generator.n_attrs != n_attrs:
        raise WriterUnsupported(f"the generator takes {generator.n_attrs} attributes, not {n_attrs}")

    def cast_in(value: Any) -> Any:
        return g.op("Cast", [value], to=FLOAT16) if precision == "fp16" else value

    image_shape = ["batch", 3, img_size, img_size]
    image = g.input(INPUT_NAMES[0], image_shape)
    attributes = g.input(INPUT_NAMES[1], ["batch", n_attrs])
    style = g.input(STYLE_INPUT, ["batch", n_style]) if n_style else None

    n_enc, n_dec = len(generator.enc_layers), len(generator.dec_layers)
    gemm_convs, winograd_deconvs = (small_spatial_layers(img_size, n_enc, n_dec, **(layer_limits or {}))
                                    if graph == "cpu" else (set(), set()))
    x, side, zs = cast_in(image), img_size, []
    for i, block in enumerate(generator.enc_layers):
        x = _block(g, x, block, f"enc_layers.{i}", side, transposed=False, cpu_form=i in gemm_convs)
        side //= 2
        zs.append(x)
    cond = cast_in(attributes)
    if style is not None:
        cond = g.op("Concat", [cond, cast_in(style)], axis=1)
    z = g.op("Concat", [zs[-1], _tile(g, cond, side)], axis=1)
    for i, block in enumerate(generator.dec_layers):
        z = _block(g, z, block, f"dec_layers.{i}", side, transposed=True, cpu_form=i in winograd_deconvs)
        side *= 2
        if generator.shortcut_layers > i:
            z = g.op("Concat", [z, zs[n_dec - 2 - i]], axis=1)
        if generator.inject_layers > i:
            z = g.op("Concat", [z, _tile(g, cond, side)], axis=1)
    if precision == "fp16":
        z = g.op("Cast", [z], to=FLOAT)
    g.output(OUTPUT_NAME, z, image_shape)
