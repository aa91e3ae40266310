"""The generator as an in-memory OpenVINO model, built from its weights in ~0.2 s with no file at all.

Why: starting OpenVINO from an ONNX file means writing, checking, hashing and reading back that
file; for the default-width 128 px generator it is 321 MB, and the file route took 1.40 s to a ready
engine against 0.66 s for this one (`benchmarks/engine_prep.py`), on every first run of a
checkpoint. Here :func:`.graph_writer.write_generator` writes the same graph (same layer forms, same
weight transforms, the same ONNX operator semantics) straight into OpenVINO's graph API; the weights
become constants that share the arrays' memory. The model is then compiled like any other, and
:mod:`.openvino_engine` checks it against PyTorch before it is used.

``OpenVinoGraph`` translates each ONNX operator of the writer's vocabulary into the OpenVINO
operation with the same semantics; an operator it does not know raises WriterUnsupported, and the
caller falls back to the ONNX file route.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .graph_writer import FLOAT16, WriterUnsupported, write_generator


class OpenVinoGraph:
    """A :class:`.graph_writer.GraphBuilder` whose values are OpenVINO node outputs."""

    def __init__(self, dtype: Any):
        from openvino import opset8, opset13

        self.dtype = dtype
        self.ops, self.opset8 = opset13, opset8
        self.parameters: list[Any] = []
        self.results: list[Any] = []

    def const(self, hint: str, value: Any, dtype: Any = None) -> Any:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.ascontiguousarray(value, dtype=dtype or self.dtype)
        if not array.flags.writeable:  # a view of another constant's data (a reshaped bias): small, copied
            array = array.copy()
        return self.ops.constant(array, shared_memory=True).output(0)  # no copy of the weights

    def ints(self, hint: str, values: list[int]) -> Any:
        return self.const(hint, np.asarray(values, dtype=np.int64), np.int64)

    def input(self, name: str, shape: list[Any]) -> Any:
        from openvino import Type

        parameter = self.ops.parameter([-1 if d == "batch" else d for d in shape], Type.f32, name=name)
        parameter.output(0).get_tensor().set_names({name})
        self.parameters.append(parameter)
        return parameter.output(0)

    def output(self, name: str, value: Any, shape: list[Any]) -> None:
        value.get_tensor().set_names({name})
        self.results.append(self.ops.result(value))

    @staticmethod
    def _values(value: Any) -> np.ndarray:
        """The numpy data of a constant input (pads, biases): the writer passes them as constants."""
        return value.get_node().get_data()

    def _bias(self, y: Any, bias: Any) -> Any:
        return self.ops.add(y, self.const("bias", self._values(bias).reshape(1, -1, 1, 1)))

    def op(self, op_type: str, inputs: list[Any], hint: str | None = None, **attributes: Any) -> Any:
        ops = self.ops
        x = inputs[0]
        if op_type == "Pad":  # ONNX pads: all begins, then all ends
            pads = self._values(inputs[1])
            node = ops.pad(x, pads[:len(pads) // 2], pads[len(pads) // 2:], "constant")
        elif op_type == "Slice":
            steps = inputs[4] if len(inputs) > 4 else self.ints("steps", [1] * len(self._values(inputs[3])))
            node = self.opset8.slice(x, inputs[1], inputs[2], steps, inputs[3])
        elif op_type == "Concat":
            node = ops.concat(inputs, attributes["axis"])
        elif op_type == "Transpose":
            node = ops.transpose(x, self.ints("perm", attributes["perm"]))
        elif op_type == "Reshape":  # ONNX: 0 copies the input's dimension, as OpenVINO's special_zero
            node = ops.reshape(x, inputs[1], special_zero=True)
        elif op_type == "MatMul":
            node = ops.matmul(x, inputs[1], transpose_a=False, transpose_b=False)
        elif op_type == "Add":
            node = ops.add(x, inputs[1])
        elif op_type == "Gather":
            node = ops.gather(x, inputs[1], self.ints("axis", attributes["axis"]))
        elif op_type == "Unsqueeze":
            node = ops.unsqueeze(x, inputs[1])
        elif op_type == "Expand":  # ONNX Expand broadcasts both ways
            node = ops.broadcast(x, inputs[1], broadcast_spec="BIDIRECTIONAL")
        elif op_type in ("Conv", "ConvTranspose"):
            node = self._convolution(op_type, inputs, attributes)
        elif op_type == "InstanceNormalization":  # (x - mean) / sqrt(var + eps) per sample and channel
            normalised = ops.mvn(x, self.ints("axes", [2, 3]), normalize_variance=True, eps=attributes["epsilon"],
                                 eps_mode="inside_sqrt")
            scale = self.const("scale", self._values(inputs[1]).reshape(1, -1, 1, 1))
            node = self._bias(ops.multiply(normalised, scale), inputs[2])
        elif op_type == "LeakyRelu":
            node = ops.prelu(x, self.const("alpha", np.asarray([attributes["alpha"]])))
        elif op_type in ("Relu", "Tanh", "Sigmoid"):
            node = getattr(ops, op_type.lower())(x)
        elif op_type == "Cast":
            node = ops.convert(x, "f16" if attributes["to"] == FLOAT16 else "f32")
        else:
            raise WriterUnsupported(f"no OpenVINO translation for the ONNX operator {op_type}")
        return node.output(0)

    def _convolution(self, op_type: str, inputs: list[Any], attributes: dict[str, Any]) -> Any:
        ops = self.ops
        if attributes["kernel_shape"] != [4, 4] or attributes["strides"] != [2, 2] or attributes["pads"] != [1] * 4:
            raise WriterUnsupported(f"{op_type} with {attributes}: the writer emits 4x4 stride-2 pad-1 layers only")
        # both keep the ONNX / torch weight layouts: (out, in, kh, kw) and (in, out, kh, kw)
        if op_type == "Conv":
            y = ops.convolution(inputs[0], inputs[1], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1],
                                dilations=[1, 1])
        else:
            y = ops.convolution_backprop_data(inputs[0], inputs[1], strides=[2, 2], pads_begin=[1, 1],
                                              pads_end=[1, 1], dilations=[1, 1])
        return self._bias(y, inputs[2]) if len(inputs) > 2 else y


def build_openvino_model(generator: nn.Module, *, img_size: int, n_attrs: int, precision: str = "fp32",
                         graph: str = "cpu", layer_limits: dict[str, int] | None = None) -> Any:
    """The generator's graph as an ``openvino.Model`` (inputs image, attributes[, style]; output edited).

    The same graph the ONNX writer writes (``graph`` and ``precision`` as there); the weight arrays
    are shared, not copied, so keep the model alive only as long as needed (compiling copies them
    into the engine's own layout)."""
    import openvino as ov

    g = OpenVinoGraph(np.float16 if precision == "fp16" else np.float32)
    write_generator(g, generator, img_size=img_size, n_attrs=n_attrs, precision=precision, graph=graph,
                    layer_limits=layer_limits)
    return ov.Model(g.results, g.parameters, "attgan_generator")
