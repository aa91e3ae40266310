"""Write the generator's ONNX file straight from its layers (:mod:`.graph_writer`), in well under a second.

The protobuf is encoded here, by hand, for the handful of ONNX messages the graph needs (model,
graph, node, attribute, tensor, value info). Why not ``onnx.helper``: importing the ``onnx`` package
costs ~0.4 s (its ml_dtypes extension) at every first run of a checkpoint, more than writing the
whole graph. The encoding follows onnx.proto's field numbers; the tests parse every written file
with the real ``onnx`` package, run ``onnx.checker`` on it and run it in ONNX Runtime and OpenVINO.
Weights are streamed into the file from their arrays, never copied into one big message.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .graph_writer import FLOAT, FLOAT16, GRAPHS, WriterUnsupported, write_generator  # noqa: F401 - re-exported

IR_VERSION = 10  # what torch 2.14's exporter writes; read by ONNX Runtime, OpenVINO and TensorRT
_ELEM_TYPE = {np.dtype(np.float32): FLOAT, np.dtype(np.float16): FLOAT16, np.dtype(np.int64): 7}
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as two's complement, as protobuf encodes negative numbers
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _tag(field_number: int, wire_type: int) -> bytes:
    return _varint(field_number << 3 | wire_type)


def _key(field_number: int, length: int) -> bytes:
    """A length-delimited field's tag and length (its payload follows)."""
    return _tag(field_number, 2) + _varint(length)


def _message(field_number: int, payload: bytes) -> bytes:
    return _key(field_number, len(payload)) + payload


def _string(field_number: int, text: str) -> bytes:
    return _message(field_number, text.encode())


def _int(field_number: int, value: int) -> bytes:
    return _tag(field_number, 0) + _varint(value)


def _attribute(name: str, value: Any) -> bytes:
    """AttributeProto: name 1, f 2, i 3, ints 8, type 20."""
    if isinstance(value, float):
        return _string(1, name) + _tag(2, 5) + struct.pack("<f", value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, (int, np.integer)):
        return _string(1, name) + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in value):
        return _string(1, name) + b"".join(_int(8, int(v)) for v in value) + _int(20, _ATTR_INTS)
    raise TypeError(f"attribute {name}={value!r}: the writer encodes floats, ints and lists of ints")


def _node(op_type: str, inputs: list[str], output: str, attributes: dict[str, Any]) -> bytes:
    """NodeProto: input 1, output 2, op_type 4, attribute 5."""
    return (b"".join(_string(1, name) for name in inputs) + _string(2, output) + _string(4, op_type)
            + b"".join(_message(5, _attribute(k, v)) for k, v in sorted(attributes.items())))


def _value_info(name: str, elem_type: int, shape: list[Any]) -> bytes:
    """ValueInfoProto (name 1, type 2) of a tensor: TypeProto.tensor_type 1 -> elem_type 1, shape 2 ->
    dim 1 -> dim_value 1 or dim_param 2."""
    dims = b"".join(_message(1, _string(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    return _string(1, name) + _message(2, _message(1, _int(1, elem_type) + _message(2, dims)))


def _tensor_head(name: str, array: np.ndarray) -> bytes:
    """TensorProto without its data: dims 1, data_type 2, name 8 (raw_data 9 follows)."""
    return b"".join(_int(1, d) for d in array.shape) + _int(2, _ELEM_TYPE[array.dtype]) + _string(8, name)


@dataclass
class OnnxGraph:
    """A :class:`.graph_writer.GraphBuilder` that collects encoded nodes and keeps initialisers as arrays."""

    dtype: Any
    nodes: list[bytes] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    initializers: list[tuple[str, np.ndarray]] = field(default_factory=list)
    count: int = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, value: Any, dtype: Any = None) -> str:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.ascontiguousarray(value, dtype=dtype or self.dtype)
        name = self.name(hint)
        self.initializers.append((name, array))
        return name

    def ints(self, hint: str, values: list[int]) -> str:
        return self.const(hint, np.asarray(values, dtype=np.int64), np.int64)

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attributes: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(_node(op_type, inputs, out, attributes))
        return out

    def input(self, name: str, shape: list[Any]) -> str:
        self.inputs.append(_value_info(name, FLOAT, shape))
        return name

    def output(self, name: str, value: str, shape: list[Any]) -> None:
        self.nodes.append(_node("Identity", [value], name, {}))
        self.outputs.append(_value_info(name, FLOAT, shape))


@dataclass
class WrittenGraph:
    """An encoded ONNX model whose initialisers are still (name, numpy array) pairs."""

    head: bytes  # ModelProto fields other than the graph
    graph: bytes  # GraphProto fields other than the initialisers
    initializers: list[tuple[str, np.ndarray]]

    def _pieces(self) -> list[tuple[bytes, np.ndarray]]:
        pieces = []
        for name, array in self.initializers:
            data = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
            meta = _tensor_head(name, array)
            tensor_len = len(meta) + len(_key(9, data.nbytes)) + data.nbytes
            pieces.append((_key(5, tensor_len) + meta + _key(9, data.nbytes), data))  # GraphProto.initializer 5
        return pieces

    def write(self, path: str | Path) -> None:
        """Serialise to ``path``, streaming each weight from its array (no in-memory copy of the whole
        model, which would cost a pass over ~300 MB at default width)."""
        pieces = self._pieces()
        graph_len = len(self.graph) + sum(len(prefix) + data.nbytes for prefix, data in pieces)
        with open(path, "wb") as fh:
            fh.write(self.head + _key(7, graph_len) + self.graph)  # ModelProto.graph 7
            for prefix, data in pieces:
                fh.write(prefix)
                fh.write(memoryview(data).cast("B"))

    def to_bytes(self) -> bytes:
        """The whole file in memory (tests, small models)."""
        pieces = self._pieces()
        body = self.graph + b"".join(prefix + data.tobytes() for prefix, data in pieces)
        return self.head + _message(7, body)

    def to_proto(self) -> Any:
        """The model as an ``onnx.ModelProto`` (needs the ``onnx`` package; tests and tools)."""
        import onnx

        return onnx.load_from_string(self.to_bytes())


def build_model(generator: nn.Module, *, img_size: int, n_attrs: int, precision: str = "fp32", graph: str = "cpu",
                opset: int = 18, layer_limits: dict[str, int] | None = None) -> WrittenGraph:
    """The generator's ONNX graph (inputs image, attributes[, style]; output edited), weights kept as arrays.

    ``precision="fp16"``: fp16 weights and compute, fp32 inputs and outputs through Cast nodes.
    ``layer_limits``: see :func:`.graph_writer.write_generator`."""
    from ..version import __version__

    g = OnnxGraph(np.float16 if precision == "fp16" else np.float32)
    write_generator(g, generator, img_size=img_size, n_attrs=n_attrs, precision=precision, graph=graph,
                    layer_limits=layer_limits)
    body = (b"".join(_message(1, node) for node in g.nodes) + _string(2, "attgan_generator")  # node 1, name 2
            + b"".join(_message(11, i) for i in g.inputs) + b"".join(_message(12, o) for o in g.outputs))
    head = (_int(1, IR_VERSION) + _string(2, "attgan-batch") + _string(3, __version__)  # ir_version, producer
            + _message(8, _string(1, "") + _int(2, opset)))  # opset_import: default domain, version
    return WrittenGraph(head, body, g.initializers)


def write_onnx(generator: nn.Module, path: str | Path, *, img_size: int, n_attrs: int, precision: str = "fp32",
               graph: str = "cpu", opset: int = 18, layer_limits: dict[str, int] | None = None) -> None:
    """Write the generator's graph to ``path`` (the caller makes it atomic and checks its parity)."""
    build_model(generator, img_size=img_size, n_attrs=n_attrs, precision=precision, graph=graph, opset=opset,
                layer_limits=layer_limits).write(path)
