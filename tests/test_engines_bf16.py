"""`--precision bf16`: OpenVINO's bf16 inference over the fp32 graph, where the CPU has bf16 units.

The tests that run bf16 skip, with the reason OpenVINO gives, on CPUs without bf16 units; the
refusals (other backends, a CPU without BF16) run everywhere.
"""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxscript, onnxruntime) is not installed")
ov = pytest.importorskip("openvino", reason="the [openvino] extra is not installed")

from attgan_batch.cli import main  # noqa: E402
from attgan_batch.defaults import demo_checkpoint  # noqa: E402
from attgan_batch.engines import export, select_backend  # noqa: E402
from attgan_batch.engines.openvino_backend import bf16_missing  # noqa: E402
from attgan_batch.engines.openvino_engine import record_path  # noqa: E402
from attgan_batch.engines.options import EngineOptions  # noqa: E402
from attgan_batch.errors import EngineUnavailable  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

from conftest import write_image  # noqa: E402

BF16_MISSING = bf16_missing(ov)
needs_bf16 = pytest.mark.skipif(BF16_MISSING is not None, reason=BF16_MISSING or "")


def quiet(_message: str) -> None:
    pass


def _bf16_and_fp32(loaded, engines):
    bf16 = select_backend(loaded, EngineOptions(backend="openvino", precision="bf16", engines_dir=engines), log=quiet)
    fp32 = select_backend(loaded, EngineOptions(backend="openvino", precision="fp32", engines_dir=engines), log=quiet)
    return bf16, fp32


@needs_bf16
@pytest.mark.parametrize("model", ["reference", "demo"])
def test_bf16_engine_is_bf16_and_within_its_tolerance(model, request, tmp_path):
    if model == "demo":
        folder = demo_checkpoint()
        if folder is None:
            pytest.skip("this install has no bundled demo model")
    else:
        folder = request.getfixturevalue("reference_dir")
    loaded = load_checkpoint(folder)
    s = loaded.settings
    bf16, fp32 = _bf16_and_fp32(loaded, tmp_path / "engines")
    assert bf16.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
    assert fp32.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"
    engines = tmp_path / "engines"
    bf16_record = json.loads(record_path(engines, loaded.sha256, "bf16").read_text())
    assert bf16_record["parity"]["tolerance"] == export.TOLERANCE["bf16"], "each precision is checked on its own"
    assert json.loads(record_path(engines, loaded.sha256, "fp32").read_text())["parity"]["status"] == "passed"
    info = bf16.describe()
    assert info["precision"] == "bf16" and info["graph_precision"] == "fp32"
    assert info["parity_tolerance"] == export.TOLERANCE["bf16"]
    assert 0 < info["parity_max_abs_diff"] <= export.TOLERANCE["bf16"]
    assert fp32.describe()["precision"] == "fp32"

    inputs = export.parity_inputs(s.img_size, s.n_attrs, batch=6, seed=3, n_style=s.n_style)
    with torch.inference_mode():
        expected = loaded.generator(*inputs)
    got_bf16, got_fp32 = bf16.infer(*inputs), fp32.infer(*inputs)
    fp32_diff = (got_fp32 - expected).abs().max().item()
    bf16_diff = (got_bf16 - expected).abs().max().item()
    assert fp32_diff <= export.TOLERANCE["fp32"]
    assert 10 * fp32_diff < bf16_diff <= export.TOLERANCE["bf16"], "bf16 changes the outputs, a little"


@needs_bf16
def test_run_with_bf16_records_the_precision_in_the_report(tiny_checkpoint, tmp_path):
    images = [write_image(tmp_path / f"img{i}.png", size=(32, 32), seed=i) for i in range(3)]
    out = tmp_path / "out"
    args = ["run", *map(str, images), "--edit", "Male=1", "--source", "Bangs,Black_Hair,Male", "--out", str(out),
            "-c", str(tiny_checkpoint), "--backend", "openvino", "--precision", "bf16",
            "--engines-dir", str(tmp_path / "engines"), "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    backend = json.loads((out / "report.json").read_text())["backend"]
    assert backend["backend"] == "openvino" and backend["precision"] == "bf16"
    assert backend["parity_max_abs_diff"] <= export.TOLERANCE["bf16"]


def test_auto_with_bf16_on_a_cpu_uses_openvino_or_says_what_is_missing(monkeypatch, tiny_checkpoint, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load_checkpoint(tiny_checkpoint)
    options = EngineOptions(backend="auto", precision="bf16", engines_dir=tmp_path / "engines")
    if BF16_MISSING is None:
        assert select_backend(loaded, options, log=quiet).describe()["precision"] == "bf16"
    else:
        with pytest.raises(EngineUnavailable, match="bf16 units"):
            select_backend(loaded, options, log=quiet)


@pytest.mark.parametrize("backend", ["onnxruntime", "tensorrt"])
def test_bf16_is_refused_where_it_does_not_run(backend, tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    with pytest.raises(EngineUnavailable, match="--precision bf16 is not available with --backend " + backend):
        select_backend(loaded, EngineOptions(backend=backend, precision="bf16", device="cpu" if backend !=
                                             "tensorrt" else "cuda", engines_dir=tmp_path), log=quiet)


class _CpuWithoutBf16:
    """OpenVINO as it answers on a CPU without bf16 units (AVX2 only): the one stand-in here."""

    class Core:
        def get_property(self, device, name):
            assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
            return ["FP32", "INT8", "BIN", "EXPORT_IMPORT"]

    @staticmethod
    def get_version():
        return ov.get_version()


def test_a_cpu_without_bf16_gets_an_error_naming_what_is_missing_and_what_to_use():
    message = bf16_missing(_CpuWithoutBf16)
    assert "needs a CPU with bf16 units (AVX512_BF16 or AMX)" in message
    assert "FP32, INT8, BIN, EXPORT_IMPORT, without BF16" in message
    assert "Use --precision fp32" in message
