"""The default CPU engine: OpenVINO over the generator's graph built in memory, checked once per checkpoint.

Real OpenVINO engines throughout. The reference fixture's outputs are the ground truth; a style
model and the demo model are compared with PyTorch; the check's record is reused by a second
process and survives two processes racing for it; a run's images differ from eager PyTorch's by at
most one 8-bit level.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

pytest.importorskip("openvino", reason="the [openvino] extra is not installed")

from attgan_batch.cli import main  # noqa: E402
from attgan_batch.defaults import demo_checkpoint  # noqa: E402
from attgan_batch.engines import export, select_backend  # noqa: E402
from attgan_batch.engines.gemm_layers import GRAPH_FORM  # noqa: E402
from attgan_batch.engines.openvino_engine import prepare_openvino, record_path  # noqa: E402
from attgan_batch.engines.options import EngineOptions  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

from conftest import write_checkpoint  # noqa: E402
from test_engines import all_cases, quiet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_in_memory_engine_reproduces_the_reference_outputs(reference_dir, reference_forward, tmp_path):
    loaded = load_checkpoint(reference_dir)
    logs: list[str] = []
    backend = prepare_openvino(loaded, tmp_path, streams=2, log=logs.append)
    x, a, y = all_cases(reference_forward)
    assert (backend.infer(x, a) - y).abs().max().item() <= 1e-4
    info = backend.describe()
    assert info["engine"] == "in memory, built from the checkpoint" and info["precision"] == "fp32"
    assert info["parity_max_abs_diff"] <= 1e-4 and info["parity_tolerance"] == export.TOLERANCE["fp32"]
    assert any("first run of this checkpoint" in line for line in logs)
    record = json.loads(record_path(tmp_path, loaded.sha256, "fp32").read_text())
    assert record["parity"]["status"] == "passed" and record["graph"] == GRAPH_FORM
    assert record["checkpoint_sha256"] == loaded.sha256
    assert not list(tmp_path.rglob("*.onnx")), "no export file on the OpenVINO path"


def _style_and_demo(tmp_path):
    yield "style", load_checkpoint(write_checkpoint(tmp_path / "styled", style={"Eyeglasses": 2}, inject_layers=1))
    yield "instance-norm", load_checkpoint(write_checkpoint(tmp_path / "inorm", enc_norm="instancenorm",
                                                            dec_norm="instancenorm", enc_acti="tanh"))
    demo = demo_checkpoint()
    if demo is not None:
        yield "demo", load_checkpoint(demo)


def test_in_memory_engine_matches_torch_on_a_style_model_and_the_demo_model(tmp_path):
    seen = []
    for name, loaded in _style_and_demo(tmp_path):
        s = loaded.settings
        backend = prepare_openvino(loaded, tmp_path / "engines", log=quiet)
        inputs = export.parity_inputs(s.img_size, s.n_attrs, batch=5, seed=7, n_style=s.n_style)
        with torch.inference_mode():
            expected = loaded.generator(*inputs)
        diff = (backend.infer(*inputs) - expected).abs().max().item()
        assert diff <= 1e-4, f"{name}: {diff}"
        seen.append(name)
    assert {"style", "instance-norm"} <= set(seen)


PREPARE = r"""
import json, sys
from attgan_batch.engines import openvino_engine
from attgan_batch.model import load_checkpoint
checks = []
real = openvino_engine.check_engine
openvino_engine.check_engine = lambda *a, **k: checks.append(1) or real(*a, **k)
backend = openvino_engine.prepare_openvino(load_checkpoint(sys.argv[1]), sys.argv[2], log=lambda m: None)
print(json.dumps({"checks": len(checks), "parity": backend.parity["status"]}))
"""


def _prepare_in(processes: int, checkpoint, engines) -> list[dict]:
    procs = [subprocess.Popen([sys.executable, "-c", PREPARE, str(checkpoint), str(engines)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in results]


def test_two_processes_racing_check_once_and_a_later_process_reuses_the_check(tiny_checkpoint, tmp_path):
    engines = tmp_path / "engines"
    raced = _prepare_in(2, tiny_checkpoint, engines)
    assert sorted(r["checks"] for r in raced) == [0, 1], raced  # one checked, the other waited and reused it
    assert all(r["parity"] == "passed" for r in raced)
    [later] = _prepare_in(1, tiny_checkpoint, engines)
    assert later == {"checks": 0, "parity": "passed"}
    folder = record_path(engines, load_checkpoint(tiny_checkpoint).sha256, "fp32").parent
    assert sorted(p.name for p in folder.iterdir()) == [".build.lock", "openvino-fp32.json"]  # no temp file left


def test_a_stale_record_is_checked_again_and_a_failed_one_is_refused_at_once(tiny_checkpoint, tmp_path):
    loaded = load_checkpoint(tiny_checkpoint)
    prepare_openvino(loaded, tmp_path, log=quiet)
    path = record_path(tmp_path, loaded.sha256, "fp32")
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"graph": "an older graph form"}))
    logs: list[str] = []
    prepare_openvino(loaded, tmp_path, log=logs.append)
    assert any("first run" in line for line in logs)
    assert json.loads(path.read_text())["graph"] == GRAPH_FORM
    failed = record | {"parity": record["parity"] | {"status": "failed", "max_abs_diff": 0.5}}
    path.write_text(json.dumps(failed))
    with pytest.raises(export.ParityError, match="disagrees with PyTorch"):
        prepare_openvino(loaded, tmp_path, log=quiet)
    # select_backend falls back to an ONNX export, which proves itself with its own check
    backend = select_backend(loaded, EngineOptions(backend="openvino", engines_dir=tmp_path), log=quiet)
    assert backend.path is not None and backend.path.suffix == ".onnx"


class _Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def test_a_graph_that_cannot_be_built_in_memory_runs_over_an_onnx_export(tiny_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    loaded = load_checkpoint(tiny_checkpoint)
    loaded.generator.dec_layers[0].layers[2] = _Swish()
    logs: list[str] = []
    backend = select_backend(loaded, EngineOptions(backend="openvino", engines_dir=tmp_path), log=logs.append)
    assert any("in-memory graph cannot be built" in line for line in logs)
    assert backend.path is not None and backend.describe()["exporter"] == "dynamo"
    x, a = export.parity_inputs(32, 13, batch=2)
    with torch.inference_mode():
        assert (backend.infer(x, a) - loaded.generator(x, a)).abs().max().item() <= 1e-4


def test_a_read_only_cache_still_runs_checking_every_time(tiny_checkpoint, tmp_path):
    from test_crash_safety import _immutable

    engines = tmp_path / "engines"
    engines.mkdir()
    if not _immutable(engines):
        pytest.skip("chattr +i is not allowed here (needs root and CAP_LINUX_IMMUTABLE)")
    try:
        logs: list[str] = []
        backend = prepare_openvino(load_checkpoint(tiny_checkpoint), engines, log=logs.append)
    finally:
        _immutable(engines, on=False)
    assert backend.parity["status"] == "passed"
    assert any("checking on every run" in line for line in logs), logs
    assert list(engines.iterdir()) == []


def test_auto_run_images_are_within_one_level_of_eager_torch(tmp_path):
    """The demo manifest through the default CPU engine and through eager PyTorch: every pixel within 1/255."""
    runner = CliRunner()
    manifest = os.path.join(REPO, "manifests", "demo.csv")
    for backend in ("auto", "torch"):
        result = runner.invoke(main, ["run", manifest, "--out", str(tmp_path / backend), "--backend", backend,
                                      "--engines-dir", str(tmp_path / "engines"), "-q"])
        assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "auto" / "report.json").read_text())
    assert report["backend"]["backend"] == "openvino"
    images = sorted(p.name for p in (tmp_path / "torch").glob("*.png"))
    assert len(images) >= 12
    worst = 0
    for name in images:
        a = np.asarray(Image.open(tmp_path / "auto" / name), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / "torch" / name), dtype=np.int16)
        worst = max(worst, int(np.abs(a - b).max()))
    assert worst <= 1, f"max pixel difference {worst} levels"


def test_auto_on_a_cpu_builds_openvino_in_memory_and_writes_no_export(monkeypatch, tiny_checkpoint, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    engines = tmp_path / "engines"
    backend = select_backend(load_checkpoint(tiny_checkpoint), EngineOptions(backend="auto", engines_dir=engines),
                             log=quiet)
    assert backend.name == "openvino" and backend.path is None
    assert sorted(p.name for p in engines.rglob("*") if p.is_file()) == [".build.lock", "openvino-fp32.json"]
