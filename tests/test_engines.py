"""ONNX export, ONNX Runtime backend, backend selection and `build-engine`, with real exports and sessions."""
from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("onnx", reason="the [onnx] extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxscript, onnxruntime) is not installed")
import onnx  # noqa: E402

from attgan_batch.cli import main  # noqa: E402
from attgan_batch.engines import artifacts, export, select_backend  # noqa: E402
from attgan_batch.engines.options import EngineOptions
from attgan_batch.engines.artifacts import ensure_onnx, onnx_path  # noqa: E402
from attgan_batch.engines.export import export_onnx  # noqa: E402
from attgan_batch.engines.onnx_backend import OnnxRuntimeBackend  # noqa: E402
from attgan_batch.engines.sidecar import read_sidecar, sidecar_path  # noqa: E402
from attgan_batch.errors import EngineUnavailable  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

from conftest import write_checkpoint  # noqa: E402


def quiet(_message: str) -> None:
    pass


# auto on a CPU: OpenVINO when the [openvino] extra is installed (it is in [dev]), else ONNX Runtime


@pytest.fixture(scope="module")
def reference(reference_dir):
    return load_checkpoint(reference_dir)


@pytest.fixture(scope="module")
def reference_onnx(reference, tmp_path_factory):
    """The reference checkpoint's generator exported once (fp32) into a module-wide engines folder."""
    engines = tmp_path_factory.mktemp("engines")
    return engines, ensure_onnx(reference, engines, precision="fp32", log=quiet)


def all_cases(forward):
    """Every fixture case as one batch: x repeated per case, att_b_ and y flattened the same way."""
    cases = forward["att_b_"].shape[0]
    x = forward["x"].repeat(cases, 1, 1, 1)
    return x, forward["att_b_"].reshape(-1, forward["att_b_"].shape[-1]), forward["y"].reshape(-1, *x.shape[1:])


def test_fp32_export_matches_reference_outputs(reference_onnx, reference_forward):
    engines, art = reference_onnx
    model = onnx.load(str(art.path))
    assert model.opset_import[0].version == 18
    assert [i.name for i in model.graph.input] == ["image", "attributes"]
    assert [o.name for o in model.graph.output] == ["edited"]
    for tensor in (*model.graph.input, *model.graph.output):
        assert tensor.type.tensor_type.shape.dim[0].dim_param, "batch axis must be dynamic"
        assert tensor.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert sorted(p.name for p in art.path.parent.iterdir()) == [art.path.name, sidecar_path(art.path).name]

    meta = read_sidecar(art.path)
    assert meta["exporter"] == "direct" and meta["parity"]["status"] == "passed"
    assert meta["parity"]["max_abs_diff"] <= 1e-4

    x, a, y = all_cases(reference_forward)
    backend = OnnxRuntimeBackend(art.path, meta=meta)
    out = backend.infer(x, a)
    assert out.dtype == torch.float32 and out.shape == y.shape
    assert (out - y).abs().max().item() <= 1e-4
    info = backend.describe()
    assert info["backend"] == "onnxruntime" and info["providers"] == ["CPUExecutionProvider"]
    assert info["intra_op_threads"] >= 1 and info["engine"] == str(art.path)


def test_fp16_export_carries_its_precision_and_stays_within_tolerance(reference, reference_forward, tmp_path):
    result = export_onnx(reference.generator, tmp_path / "g16.onnx", img_size=128, n_attrs=13, precision="fp16")
    assert result.parity.passed and result.parity.max_abs_diff <= 5e-3
    model = onnx.load(str(result.path))
    weights = [t for t in model.graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert all(t.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
               for t in (*model.graph.input, *model.graph.output)), "fp32 I/O through Cast nodes"
    assert "Cast" in {n.op_type for n in model.graph.node}
    x, a, y = all_cases(reference_forward)
    out = OnnxRuntimeBackend(result.path).infer(x, a)
    assert (out - y).abs().max().item() <= 5e-3


def test_legacy_exporter_is_the_fallback(monkeypatch, tiny_checkpoint, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("dynamo exporter crashed")

    monkeypatch.setattr(export, "_export_dynamo", broken)
    loaded = load_checkpoint(tiny_checkpoint)
    result = export_onnx(loaded.generator, tmp_path / "g.onnx", img_size=32, n_attrs=13, exporters=("dynamo", "legacy"))
    assert result.exporter == "legacy" and result.parity.passed
    assert "dynamo exporter failed: RuntimeError: dynamo exporter crashed" in result.notes[0]
    x, a = export.parity_inputs(32, 13, batch=5)
    with torch.inference_mode():
        expected = loaded.generator(x, a)
    assert (OnnxRuntimeBackend(result.path).infer(x, a) - expected).abs().max() <= 1e-4


def test_onnx_engines_export_once_then_reuse(monkeypatch, tiny_checkpoint, tmp_path):
    """ONNX Runtime (and OpenVINO given an export) run the checkpoint's cached ONNX file."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = []
    real_export = artifacts.export_onnx
    monkeypatch.setattr(artifacts, "export_onnx", lambda *a, **k: calls.append(1) or real_export(*a, **k))
    loaded = load_checkpoint(tiny_checkpoint)
    engines = tmp_path / "engines"
    logs: list[str] = []

    first = select_backend(loaded, EngineOptions(backend="onnxruntime", engines_dir=engines), log=logs.append)
    assert first.name == "onnxruntime" and len(calls) == 1
    assert any("exported" in line for line in logs)
    cached = onnx_path(engines, loaded.sha256, "fp32")
    assert first.describe()["engine"] == str(cached) and sidecar_path(cached).is_file()

    logs.clear()
    second = select_backend(loaded, EngineOptions(backend="onnxruntime", engines_dir=engines), log=logs.append)
    assert second.name == "onnxruntime" and len(calls) == 1, "second call must reuse the cached export"
    assert any("cached" in line for line in logs)
    x, a = export.parity_inputs(32, 13, batch=4)
    with torch.inference_mode():
        expected = loaded.generator(x, a)
    assert (second.infer(x, a) - expected).abs().max() <= 1e-4

    cached.write_bytes(cached.read_bytes() + b"\0")  # tampered or half-written file: exported again
    select_backend(loaded, EngineOptions(backend="onnxruntime", engines_dir=engines), log=logs.append)
    assert len(calls) == 2 and any("changed since built" in line for line in logs)


def test_auto_without_onnxruntime_uses_openvino_alone_and_without_either_torch(monkeypatch, tiny_checkpoint, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    if importlib.util.find_spec("openvino") is not None:  # its engine needs no ONNX packages
        backend = select_backend(load_checkpoint(tiny_checkpoint),
                                 EngineOptions(backend="auto", device="cpu", engines_dir=tmp_path), log=quiet)
        assert backend.name == "openvino"
        monkeypatch.setitem(sys.modules, "openvino", None)
    logs: list[str] = []
    backend = select_backend(load_checkpoint(tiny_checkpoint), EngineOptions(backend="auto", device="cpu", engines_dir=tmp_path), log=logs.append)
    assert backend.name == "torch"
    assert any("onnxruntime is not installed" in line and "attgan-batch[onnx,openvino]" in line for line in logs)
    with pytest.raises(EngineUnavailable, match=r"pip install 'attgan-batch\[onnx\]'.*--backend torch"):
        select_backend(load_checkpoint(tiny_checkpoint), EngineOptions(backend="onnxruntime", engines_dir=tmp_path), log=quiet)


def test_onnxruntime_on_cuda_needs_onnxruntime_gpu(tiny_checkpoint, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(EngineUnavailable, match="needs onnxruntime-gpu.*--backend torch --device cuda"):
        select_backend(load_checkpoint(tiny_checkpoint), EngineOptions(backend="onnxruntime", device="cuda", engines_dir=tmp_path / "engines"), log=quiet)
    assert not (tmp_path / "engines").exists(), "fails before spending time on an export"


def test_explicit_engine_is_used_when_fresh_and_refused_when_stale(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    engines = tmp_path / "engines"
    art = ensure_onnx(loaded, engines, log=quiet)
    assert select_backend(loaded, EngineOptions(backend="auto", engine=art.path, engines_dir=engines), log=quiet).name == "onnxruntime"

    other = load_checkpoint(write_checkpoint(tmp_path / "other", seed=1))
    with pytest.raises(EngineUnavailable) as err:
        select_backend(other, EngineOptions(backend="auto", engine=art.path, engines_dir=engines), log=quiet)
    message = str(err.value)
    assert "refusing" in message and "checkpoint: built for sha256" in message
    assert f"attgan-batch build-engine --checkpoint {tmp_path / 'other'} --precision fp32" in message

    with pytest.raises(EngineUnavailable, match="precision: built for fp32, now fp16"):
        select_backend(loaded, EngineOptions(backend="onnxruntime", engine=art.path, precision="fp16", engines_dir=engines), log=quiet)
    with pytest.raises(EngineUnavailable, match="is a onnxruntime artefact but --backend tensorrt"):
        select_backend(loaded, EngineOptions(backend="tensorrt", engine=art.path, engines_dir=engines), log=quiet)
    with pytest.raises(EngineUnavailable, match="unknown backend"):
        select_backend(loaded, EngineOptions(backend="tensorflow", engines_dir=engines), log=quiet)


def test_build_engine_command(monkeypatch, tiny_checkpoint, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    runner = CliRunner()
    out = tmp_path / "engines"
    args = ["build-engine", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]

    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "TensorRT is not installed" in first.output and "ONNX file only" in first.output
    assert "built" in first.output and "max abs diff" in first.output
    sha = load_checkpoint(tiny_checkpoint).sha256
    assert read_sidecar(onnx_path(out, sha, "fp32"))["parity"]["status"] == "passed"

    second = runner.invoke(main, args)
    assert second.exit_code == 0 and "fresh" in second.output

    trt = runner.invoke(main, [*args, "--target", "tensorrt"])
    assert trt.exit_code == 2 and "TensorRT is not installed" in trt.output and "attgan-batch[tensorrt]" in trt.output

    bad = runner.invoke(main, [*args, "--batch", "8:1:32"])
    assert bad.exit_code == 2 and "MIN <= OPT <= MAX" in bad.output
    missing = runner.invoke(main, ["build-engine", "--checkpoint", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.exit_code == 2 and "does not exist" in missing.output

    monkeypatch.setitem(export.TOLERANCE, "fp32", -1.0)  # any real difference, even 0, is now too much
    failed = runner.invoke(main, [*args, "--force"])
    assert failed.exit_code == 1, failed.output
    assert "disagrees with PyTorch" in failed.output and "--backend torch" in failed.output
    assert "dynamo export disagrees" in failed.output and "legacy export disagrees" in failed.output
    leftovers = [p.name for p in onnx_path(out, sha, "fp32").parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "a refused export leaves no temporary file"

    helptext = runner.invoke(main, ["build-engine", "--help"])
    assert helptext.exit_code == 0 and "MIN:OPT:MAX" in helptext.output and "Exit codes" in helptext.output


def test_compiled_torch_backend_matches_eager_and_pads_to_one_shape(tiny_checkpoint):
    import shutil

    if not (shutil.which("g++") or shutil.which("c++")):
        pytest.skip("torch.compile on CPU needs a C++ compiler (g++), absent here")
    from attgan_batch.engines import TorchBackend
    from attgan_batch.model import load_checkpoint

    loaded = load_checkpoint(tiny_checkpoint)
    eager = TorchBackend(loaded.generator, "cpu", channels_last=False)
    compiled = TorchBackend(load_checkpoint(tiny_checkpoint).generator, "cpu", compile=True, batch_size=4, img_size=32)
    assert compiled.describe()["compiled"] is True and compiled.compile_seconds > 0
    torch.manual_seed(0)
    for n in (1, 4, 7):  # smaller than, equal to and larger than the compiled batch
        x, a = torch.rand(n, 3, 32, 32) * 2 - 1, torch.rand(n, 13) - 0.5
        y = compiled.infer(x, a)
        assert y.shape == (n, 3, 32, 32) and (y - eager.infer(x, a)).abs().max() < 1e-4


def test_compile_flag_is_for_the_torch_backend(tiny_checkpoint, tmp_path):
    from click.testing import CliRunner

    from attgan_batch.cli import main

    (tmp_path / "m.csv").write_text("image\nx.png\n")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"),
                                       "-c", str(tiny_checkpoint), "--backend", "onnxruntime", "--compile"])
    assert result.exit_code == 2 and "--compile applies to the torch backend" in result.output
