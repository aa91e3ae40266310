"""The direct ONNX writer: its graphs, both forms, through real ONNX Runtime and OpenVINO sessions.

Every written graph must compute what the PyTorch generator computes (<= 1e-4, the export's fp32
tolerance) on the shared reference fixture, a style model and the bundled demo model; when the
writer cannot translate a generator, or its graph disagrees, torch's exporter takes over. The
writer encodes the protobuf itself: the real ``onnx`` package must parse every file to exactly the
model ``onnx.helper`` builds from the same graph.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

pytest.importorskip("onnx", reason="the [onnx] extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxscript, onnxruntime) is not installed")
import onnx  # noqa: E402

from attgan_batch.defaults import demo_checkpoint  # noqa: E402
from attgan_batch.engines import artifacts, export, onnx_writer  # noqa: E402
from attgan_batch.engines.export import export_onnx  # noqa: E402
from attgan_batch.engines.onnx_backend import OnnxRuntimeBackend  # noqa: E402
from attgan_batch.engines.sidecar import read_sidecar  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

from conftest import write_checkpoint  # noqa: E402

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
GRAPHS = ("cpu", "plain")


def engines_for(path):
    """ONNX Runtime always; OpenVINO when installed (it is in [dev])."""
    yield OnnxRuntimeBackend(path)
    if HAS_OPENVINO:
        from attgan_batch.engines.openvino_backend import OpenVinoBackend

        yield OpenVinoBackend(path, threads=1)


def op_types(path) -> list[str]:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize("graph", GRAPHS)
def test_written_graph_reproduces_the_reference_fixture(reference_dir, reference_forward, graph, tmp_path):
    loaded = load_checkpoint(reference_dir)
    result = export_onnx(loaded.generator, tmp_path / "g.onnx", img_size=128, n_attrs=13, graph=graph)
    assert result.exporter == "direct" and result.parity.passed and result.notes == []
    cases = reference_forward["att_b_"].shape[0]
    x = reference_forward["x"].repeat(cases, 1, 1, 1)
    a = reference_forward["att_b_"].reshape(-1, reference_forward["att_b_"].shape[-1])
    y = reference_forward["y"].reshape(-1, *x.shape[1:])
    for engine in engines_for(result.path):
        diff = (engine.infer(x, a) - y).abs().max().item()
        assert diff <= 1e-4, f"{engine.name} on the {graph} graph: {diff}"


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_forms_differ_only_in_how_layers_are_written(reference_dir, graph, tmp_path):
    loaded = load_checkpoint(reference_dir)
    path = export_onnx(loaded.generator, tmp_path / "g.onnx", img_size=128, n_attrs=13, graph=graph).path
    ops = op_types(path)
    assert "BatchNormalization" not in ops, "batch norm is folded into the convolutions"
    if graph == "plain":  # every layer a convolution node, as TensorRT expects
        assert ops.count("Conv") == 5 and ops.count("ConvTranspose") == 5 and "MatMul" not in ops
    else:  # 128 px: the last encoder layer as a GEMM, the first two decoder layers in Winograd's form
        assert ops.count("Conv") == 4 and ops.count("ConvTranspose") == 3
        assert ops.count("MatMul") == 1 + 2 * (1 + 36 + 1)


def _style_and_demo(tmp_path):
    yield "style", load_checkpoint(write_checkpoint(tmp_path / "styled", style={"Eyeglasses": 2}, inject_layers=1))
    demo = demo_checkpoint()
    if demo is not None:
        yield "demo", load_checkpoint(demo)


@pytest.mark.parametrize("graph", GRAPHS)
def test_written_graph_matches_torch_on_a_style_model_and_the_demo_model(graph, tmp_path):
    seen = []
    for name, loaded in _style_and_demo(tmp_path):
        s = loaded.settings
        result = export_onnx(loaded.generator, tmp_path / f"{name}.onnx", img_size=s.img_size, n_attrs=s.n_attrs,
                             graph=graph)
        assert result.exporter == "direct" and result.parity.passed, (name, result.notes)
        inputs = export.parity_inputs(s.img_size, s.n_attrs, batch=5, seed=7, n_style=s.n_style)
        with torch.inference_mode():
            expected = loaded.generator(*inputs)
        for engine in engines_for(result.path):
            diff = (engine.infer(*inputs) - expected).abs().max().item()
            assert diff <= 1e-4, f"{engine.name} on {name}'s {graph} graph: {diff}"
        seen.append(name)
    assert "style" in seen


def test_fp16_written_graph_has_fp16_weights_and_fp32_io(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    result = export_onnx(loaded.generator, tmp_path / "g16.onnx", img_size=32, n_attrs=13, precision="fp16",
                         graph="plain")
    assert result.exporter == "direct" and result.parity.passed
    model = onnx.load(str(result.path))
    weights = [t for t in model.graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert all(t.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
               for t in (*model.graph.input, *model.graph.output))


class _Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def test_a_layer_the_writer_does_not_know_falls_back_to_torchs_exporter(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    loaded.generator.dec_layers[0].layers[2] = _Swish()  # an activation no checkpoint setting makes
    with pytest.raises(onnx_writer.WriterUnsupported, match="unsupported activation"):
        onnx_writer.build_model(loaded.generator, img_size=32, n_attrs=13)
    result = export_onnx(loaded.generator, tmp_path / "g.onnx", img_size=32, n_attrs=13)
    assert result.exporter == "dynamo" and result.parity.passed
    assert "direct writer cannot translate this generator (unsupported activation" in result.notes[0]


def test_a_written_graph_that_disagrees_is_not_used(monkeypatch, tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    real_write = onnx_writer.write_onnx

    def off_by_a_little(generator, path, **kwargs):
        wrong = load_checkpoint(tiny_checkpoint).generator
        with torch.no_grad():
            wrong.dec_layers[-1].layers[0].bias.add_(1e-3)
        real_write(wrong, path, **kwargs)

    monkeypatch.setattr(export, "write_onnx", off_by_a_little)
    result = export_onnx(loaded.generator, tmp_path / "g.onnx", img_size=32, n_attrs=13,
                         exporters=("direct", "legacy"))
    assert result.exporter == "legacy" and result.parity.passed
    assert result.notes[0].startswith("direct export disagrees with PyTorch")
    with pytest.raises(export.ParityError):
        export_onnx(loaded.generator, tmp_path / "h.onnx", img_size=32, n_attrs=13, exporters=("direct",))
    assert not (tmp_path / "h.onnx").exists()


def test_cpu_and_plain_exports_are_cached_side_by_side(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    engines = tmp_path / "engines"
    cpu = artifacts.ensure_onnx(loaded, engines, log=lambda _m: None)
    plain = artifacts.ensure_onnx(loaded, engines, graph="plain", log=lambda _m: None)
    assert cpu.path.name == "generator-fp32.onnx" and plain.path.name == "generator-fp32-plain.onnx"
    assert read_sidecar(plain.path)["graph"] == "plain" and read_sidecar(cpu.path)["graph"] != "plain"
    assert read_sidecar(cpu.path)["exporter"] == "direct"
    again = artifacts.ensure_onnx(loaded, engines, graph="plain", log=lambda _m: None)
    assert not again.built and again.path == plain.path


def test_tensorrt_plans_are_built_from_the_plain_graph(monkeypatch, tiny_checkpoint, tmp_path):
    """Only the TensorRT calls are stand-ins (no GPU here); the ONNX export they receive is real."""
    from attgan_batch.engines import tensorrt_build, tensorrt_env
    from attgan_batch.engines.tensorrt_env import GpuInfo

    built_from = []

    def fake_build(onnx_path, plan_path, **_kwargs):
        built_from.append(onnx_path)
        plan_path.write_bytes(b"plan")
        return type("Build", (), {"seconds": 0.0, "timing_cache": "", "timing_cache_reused": False})()

    gpu = GpuInfo(0, "NVIDIA Test GPU", "9.0")
    monkeypatch.setattr(tensorrt_env, "tensorrt_ready", lambda _index: (object(), gpu))
    monkeypatch.setattr(tensorrt_env, "tensorrt_version", lambda _trt: "11.0.0")
    monkeypatch.setattr(tensorrt_build, "build_plan", fake_build)
    monkeypatch.setattr(tensorrt_build, "compare_with_onnx",
                        lambda *a, **k: export.Parity("passed", 0.0, 1e-4, "onnxruntime", 3))
    loaded = load_checkpoint(tiny_checkpoint)
    artifacts.ensure_plan(loaded, tmp_path / "engines", log=lambda _m: None)
    assert [p.name for p in built_from] == ["generator-fp32-plain.onnx"]
    assert "MatMul" not in op_types(built_from[0])


@pytest.mark.parametrize("graph", GRAPHS)
def test_written_model_passes_onnx_checker_and_streams_the_same_bytes(graph, tmp_path):
    """The streamed file parses to exactly the in-memory model (field order aside), and a valid model."""
    loaded = load_checkpoint(write_checkpoint(tmp_path / "styled", style={"Eyeglasses": 2}, inject_layers=1))
    written = onnx_writer.build_model(loaded.generator, img_size=32, n_attrs=13, graph=graph)
    proto = written.to_proto()
    onnx.checker.check_model(proto, full_check=True)
    written.write(tmp_path / "g.onnx")
    assert onnx.load(str(tmp_path / "g.onnx")) == proto


def test_layer_limits_choose_which_layers_take_the_gemm_forms(tiny_checkpoint):
    """benchmarks/graph_forms.py compares layer choices through these limits."""
    generator = load_checkpoint(tiny_checkpoint).generator  # 32 px, 3 + 3 layers: sides 16, 8, 4

    def ops(**limits):
        model = onnx_writer.build_model(generator, img_size=32, n_attrs=13, layer_limits=limits).to_proto()
        return [node.op_type for node in model.graph.node]

    assert "MatMul" not in ops(max_conv_side=0, max_deconv_side=0)
    assert ops(max_conv_side=4, max_deconv_side=0).count("MatMul") == 1
    assert ops(max_conv_side=0, max_deconv_side=8).count("MatMul") == 2 * (1 + 36 + 1)


class _HelperGraph:
    """The same graph builder written with ``onnx.helper``: the reference encoding to compare with."""

    def __init__(self, dtype):
        self.dtype, self.nodes, self.inputs, self.outputs, self.initializers = dtype, [], [], [], []
        self.count = 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint, value, dtype=None):
        import numpy as np
        from onnx import numpy_helper

        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype or self.dtype), name))
        return name

    def ints(self, hint, values):
        import numpy as np

        return self.const(hint, np.asarray(values, dtype=np.int64), np.int64)

    def op(self, op_type, inputs, hint=None, **attributes):
        out = self.name(hint or op_type.lower())
        self.nodes.append(onnx.helper.make_node(op_type, inputs, [out], **attributes))
        return out

    def input(self, name, shape):
        self.inputs.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
        return name

    def output(self, name, value, shape):
        self.nodes.append(onnx.helper.make_node("Identity", [value], [name]))
        self.outputs.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("graph", GRAPHS)
def test_hand_encoded_protobuf_equals_onnx_helpers_model(graph, precision, tmp_path):
    import numpy as np

    from attgan_batch import __version__
    from attgan_batch.engines.graph_writer import write_generator

    loaded = load_checkpoint(write_checkpoint(tmp_path / "styled", style={"Eyeglasses": 2}, inject_layers=1,
                                              enc_norm="instancenorm", dec_acti="lrelu"))
    helper_graph = _HelperGraph(np.float16 if precision == "fp16" else np.float32)
    write_generator(helper_graph, loaded.generator, img_size=32, n_attrs=13, precision=precision, graph=graph)
    expected = onnx.helper.make_model(
        onnx.helper.make_graph(helper_graph.nodes, "attgan_generator", helper_graph.inputs, helper_graph.outputs,
                               helper_graph.initializers),
        opset_imports=[onnx.helper.make_opsetid("", 18)], ir_version=onnx_writer.IR_VERSION,
        producer_name="attgan-batch", producer_version=__version__)
    written = onnx_writer.build_model(loaded.generator, img_size=32, n_attrs=13, precision=precision, graph=graph)
    assert written.to_proto() == expected
    ops = {node.op_type for node in expected.graph.node}
    assert {"InstanceNormalization", "LeakyRelu", "Concat", "Expand"} <= ops  # float, int and ints attributes
    assert precision == "fp32" or "Cast" in ops


def test_writing_an_onnx_file_does_not_import_the_onnx_package(tiny_checkpoint, tmp_path):
    """Its import alone (~0.4 s) cost more than writing the default-width graph."""
    import subprocess
    import sys

    code = ("import sys; from attgan_batch.model import load_checkpoint; "
            "from attgan_batch.engines.onnx_writer import write_onnx; "
            f"g = load_checkpoint({str(tiny_checkpoint)!r}).generator; "
            f"write_onnx(g, {str(tmp_path / 'g.onnx')!r}, img_size=32, n_attrs=13); "
            "print('onnx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    onnx.checker.check_model(onnx.load(str(tmp_path / "g.onnx")), full_check=True)
