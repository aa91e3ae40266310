"""OpenVINO backend, the exported graph's GEMM layers, and the pipeline's concurrent generator calls.

Real OpenVINO sessions over real exports; the reference fixture's outputs are the ground truth.
"""
from __future__ import annotations

import sys
import threading

import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnx, onnxscript, onnxruntime) is not installed")
pytest.importorskip("openvino", reason="the [openvino] extra is not installed")

from attgan_batch.cli import main  # noqa: E402
from attgan_batch.engines import export, select_backend  # noqa: E402
from attgan_batch.engines.options import EngineOptions
from attgan_batch.engines.artifacts import ensure_onnx, onnx_path  # noqa: E402
from attgan_batch.engines.gemm_layers import (GRAPH_FORM, ConvAsGemm, ConvTransposeWinograd,  # noqa: E402
                                              with_gemm_layers)
from attgan_batch.engines.openvino_backend import OpenVinoBackend, tanh_as_sigmoid  # noqa: E402
from attgan_batch.engines.sidecar import read_sidecar, sidecar_path, write_sidecar  # noqa: E402
from attgan_batch.errors import EngineUnavailable  # noqa: E402
from attgan_batch.model import Generator, load_checkpoint  # noqa: E402

from conftest import SOURCE_13, write_checkpoint, write_image  # noqa: E402
from test_engines import all_cases, quiet  # noqa: E402


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A tiny checkpoint and its export, made once for the tests that only read them."""
    folder = tmp_path_factory.mktemp("tiny")
    loaded = load_checkpoint(write_checkpoint(folder / "ckpt"))
    engines = folder / "engines"
    ensure_onnx(loaded, engines, log=quiet)
    return folder / "ckpt", loaded, engines


@pytest.fixture(scope="module")
def reference_export(reference_dir, tmp_path_factory):
    loaded = load_checkpoint(reference_dir)
    return loaded, ensure_onnx(loaded, tmp_path_factory.mktemp("engines"), precision="fp32", log=quiet)


def test_openvino_reproduces_the_reference_outputs(reference_export, reference_forward):
    _, art = reference_export
    x, a, y = all_cases(reference_forward)
    backend = OpenVinoBackend(art.path, streams=2, meta=art.meta)
    out = backend.infer(x, a)  # split over both streams
    assert out.dtype == torch.float32 and out.shape == y.shape
    assert (out - y).abs().max().item() <= 1e-4
    single = OpenVinoBackend(art.path, streams=1, meta=art.meta)
    assert (single.infer(x[:1], a[:1]) - y[:1]).abs().max().item() <= 1e-4
    info = backend.describe()
    assert info["backend"] == "openvino" and info["streams"] == 2 and info["engine"] == str(art.path)
    assert info["parity_max_abs_diff"] <= 1e-4 and info["openvino"]
    assert read_sidecar(art.path)["graph"] == GRAPH_FORM


def test_tanh_is_rewritten_as_sigmoid_to_within_float_rounding():
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    def model(dtype):
        x = ops.parameter([4, 4096], dtype, name="x")
        y = ops.tanh(x)
        y.output(0).get_tensor().set_names({"edited"})
        return ov.Model([ops.result(y)], [x])

    rewritten = tanh_as_sigmoid(model(np.float32))
    kinds = {op.get_type_name() for op in rewritten.get_ordered_ops()}
    assert "Tanh" not in kinds and "Sigmoid" in kinds
    assert rewritten.outputs[0].get_names() == {"edited"}
    x = np.concatenate([np.linspace(-30, 30, 8192), np.linspace(-1e-3, 1e-3, 8192)]).astype(np.float32)
    compiled = ov.Core().compile_model(rewritten, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled([x.reshape(4, 4096)])[0].ravel()
    assert np.abs(got - np.tanh(x.astype(np.float64))).max() <= 3e-7
    assert {op.get_type_name() for op in tanh_as_sigmoid(model(np.float16)).get_ordered_ops()} >= {"Tanh"}


def test_concurrent_calls_each_get_their_own_answer(reference_export):
    loaded, art = reference_export
    backend = OpenVinoBackend(art.path, streams=2)
    assert backend.concurrency == 2
    torch.manual_seed(0)
    batches = [(torch.rand(n, 3, 128, 128) * 2 - 1, torch.rand(n, 13) - 0.5) for n in (3, 1, 4, 2)]
    expected = [backend.infer(x, a) for x, a in batches]
    results: dict[int, torch.Tensor] = {}

    def call(i):
        results[i] = backend.infer(*batches[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, want in enumerate(expected):
        assert torch.equal(results[i], want), f"batch {i} got another call's output"


@pytest.mark.parametrize("img_size, convs, deconvs", [(128, [4], [0, 1]), (64, [3, 4], [0, 1, 2]), (384, [], []),
                                                      (32, [2, 3, 4], [1, 2, 3])])  # a 1x1 input has no 2x2 tile
def test_gemm_forms_replace_only_small_spatial_layers_and_match_exactly(img_size, convs, deconvs):
    torch.manual_seed(0)
    generator = Generator(enc_dim=8, dec_dim=8, inject_layers=1, shortcut_layers=2).eval()
    for m in generator.modules():  # non-trivial BatchNorm statistics, so folding bugs would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    rewritten = with_gemm_layers(generator, img_size)
    assert [i for i, b in enumerate(rewritten.enc_layers) if isinstance(b.layers[0], ConvAsGemm)] == convs
    assert [i for i, b in enumerate(rewritten.dec_layers) if isinstance(b.layers[0], ConvTransposeWinograd)] == deconvs
    assert not any(isinstance(m, (ConvAsGemm, ConvTransposeWinograd)) for m in generator.modules()), "original untouched"
    x, a = torch.rand(2, 3, img_size, img_size) * 2 - 1, torch.rand(2, 13) - 0.5
    with torch.inference_mode():
        assert (rewritten(x, a) - generator(x, a)).abs().max().item() < 1e-5


@pytest.mark.parametrize("cin, cout, side, bias", [(7, 5, 2, True), (33, 16, 4, False), (64, 24, 8, True)])
def test_winograd_transposed_convolution_is_as_accurate_as_torchs_own(cin, cout, side, bias):
    torch.manual_seed(cin)
    deconv = torch.nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias).eval()
    x = torch.randn(3, cin, side, side)
    with torch.inference_mode():
        exact = torch.nn.functional.conv_transpose2d(x.double(), deconv.weight.double(),
                                                     None if deconv.bias is None else deconv.bias.double(), 2, 1)
        torch_error = (deconv(x) - exact).abs().max().item()
        winograd_error = (ConvTransposeWinograd(deconv)(x) - exact).abs().max().item()
    assert exact.shape == (3, cout, 2 * side, 2 * side)
    assert winograd_error < 3 * torch_error + 1e-6, (winograd_error, torch_error)


def test_cached_export_of_an_older_graph_form_is_exported_again(tiny_export, tmp_path):
    import shutil

    _, loaded, shared = tiny_export
    engines = shutil.copytree(shared, tmp_path / "engines")
    art = ensure_onnx(loaded, engines, log=quiet)
    assert not art.built
    meta = read_sidecar(art.path)
    del meta["graph"]  # as written by attgan-batch before the GEMM forms
    write_sidecar(art.path, meta)
    logs: list[str] = []
    again = ensure_onnx(loaded, engines, log=logs.append)
    assert again.built and read_sidecar(again.path)["graph"] == GRAPH_FORM
    assert any("graph: built for plain convolutions" in line for line in logs)
    # an explicitly given older file is still correct, so it is used, not refused
    meta = read_sidecar(again.path)
    del meta["graph"]
    write_sidecar(again.path, meta)
    chosen = select_backend(loaded, EngineOptions(backend="openvino", engine=again.path, engines_dir=engines), log=quiet)
    assert chosen.name == "openvino"


def test_select_openvino_explicitly_and_its_errors(monkeypatch, tiny_export):
    _, loaded, engines = tiny_export
    backend = select_backend(loaded, EngineOptions(backend="openvino", engines_dir=engines, batch_size=1), log=quiet)
    assert backend.name == "openvino" and backend.streams == 1, "batch 1: one stream with every core"
    assert onnx_path(engines, loaded.sha256, "fp32").is_file()
    with pytest.raises(EngineUnavailable, match="runs on the CPU here.*--backend torch --device cuda"):
        select_backend(loaded, EngineOptions(backend="openvino", device="cuda", engines_dir=engines), log=quiet)
    with pytest.raises(EngineUnavailable, match="--compile applies to the torch backend"):
        select_backend(loaded, EngineOptions(backend="openvino", engines_dir=engines, compile=True), log=quiet)

    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(EngineUnavailable, match=r"openvino is not installed.*attgan-batch\[openvino\].*--backend "
                                                r"onnxruntime or --backend torch"):
        select_backend(loaded, EngineOptions(backend="openvino", engines_dir=engines), log=quiet)
    logs: list[str] = []
    fallback = select_backend(loaded, EngineOptions(backend="auto", device="cpu", engines_dir=engines), log=logs.append)
    assert fallback.name == "onnxruntime"
    assert any("openvino is not installed" in line and "attgan-batch[openvino]" in line for line in logs)


def test_auto_falls_back_to_onnxruntime_when_openvino_cannot_compile(monkeypatch, tiny_export):
    from attgan_batch.engines import openvino_backend

    _, loaded, engines = tiny_export
    monkeypatch.setattr(openvino_backend, "compile_config", lambda *a: {"INFERENCE_NUM_THREADS": "many"})
    logs: list[str] = []
    backend = select_backend(loaded, EngineOptions(backend="auto", device="cpu", engines_dir=engines), log=logs.append)
    assert backend.name == "onnxruntime"
    assert any("in-memory engine is not usable" in line and "cannot compile" in line for line in logs), logs
    assert any("not using openvino" in line and "cannot compile" in line for line in logs), logs


def test_run_with_openvino_matches_torch_and_records_the_backend(tmp_path, tiny_export):
    import csv
    import json

    import numpy as np
    from PIL import Image

    rows = ["id,image,source,edit"]
    for i in range(7):  # 7 rows, batch 3: two full batches and a short one, on two streams at once
        write_image(tmp_path / f"i{i}.png", seed=i)
        rows.append(f"r{i},i{i}.png,\"{SOURCE_13}\",{'flip-each' if i == 2 else 'Blond_Hair=1'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    checkpoint, _, engines = tiny_export
    common = ["run", str(tmp_path / "m.csv"), "-c", str(checkpoint), "-b", "3", "-q", "--engines-dir", str(engines)]
    ov = runner.invoke(main, [*common, "--out", str(tmp_path / "ov"), "--backend", "openvino"])
    assert ov.exit_code == 0, ov.output
    ref = runner.invoke(main, [*common, "--out", str(tmp_path / "torch"), "--backend", "torch"])
    assert ref.exit_code == 0, ref.output
    summary = json.loads((tmp_path / "ov" / "report.json").read_text())
    assert summary["backend"]["backend"] == "openvino" and summary["counts"]["ok"] == 7
    with open(tmp_path / "ov" / "report.csv", newline="") as fh:
        outputs = [r["output"] for r in csv.DictReader(fh)]
    assert len(outputs) == 7
    for name in outputs:
        a = np.asarray(Image.open(tmp_path / "ov" / name), dtype=int)
        b = np.asarray(Image.open(tmp_path / "torch" / name), dtype=int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1, name  # float noise may flip one 8-bit level


def test_parity_reference_is_the_plain_model(monkeypatch, tiny_export):
    """The GEMM forms are checked against the untouched PyTorch layers, never against themselves."""
    _, loaded, _ = tiny_export
    seen = []
    real = export.reference_outputs

    def spy(generator, inputs):
        seen.append(generator)
        return real(generator, inputs)

    monkeypatch.setattr(export, "reference_outputs", spy)
    onnx_file = onnx_path(tiny_export[2], loaded.sha256, "fp32")
    parity = export.check_parity(onnx_file, loaded.generator, img_size=32, n_attrs=13, precision="fp32")
    assert parity.passed and seen == [loaded.generator]
    assert not any(isinstance(m, (ConvAsGemm, ConvTransposeWinograd)) for m in loaded.generator.modules())
    broken = with_gemm_layers(loaded.generator, 32)
    broken.dec_layers[0].layers[0].weight.mul_(1.01)  # a wrong GEMM form must fail the check
    assert (broken(*export.parity_inputs(32, 13)) - loaded.generator(*export.parity_inputs(32, 13))).abs().max() > 1e-4


def test_auto_exports_once_even_when_the_export_fails_its_parity_check(monkeypatch, tiny_checkpoint, tmp_path):
    from attgan_batch.engines import artifacts

    calls = []
    real_export = artifacts.export_onnx
    monkeypatch.setattr(artifacts, "export_onnx", lambda *a, **k: calls.append(1) or real_export(*a, **k))
    monkeypatch.setitem(export.TOLERANCE, "fp32", -1.0)  # every engine and export now fails its parity check
    logs: list[str] = []
    backend = select_backend(load_checkpoint(tiny_checkpoint), EngineOptions(backend="auto", device="cpu", engines_dir=tmp_path / "e"), log=logs.append)
    assert backend.name == "torch" and len(calls) == 1, "one failed export, not one per CPU engine"
    assert any("in-memory engine is not usable" in line and "disagrees with PyTorch" in line for line in logs)
    assert any("no usable ONNX export" in line and "disagrees with PyTorch" in line for line in logs)
