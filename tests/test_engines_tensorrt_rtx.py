"""TensorRT for RTX plans really built here, ahead of time and without a GPU (running one needs a GPU:
that part is covered where a GPU is available, not in CI)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import write_checkpoint

from attgan_batch.cli import main
from attgan_batch.engines.sidecar import sidecar_path

trt = pytest.importorskip("tensorrt_rtx", reason="TensorRT for RTX is not installed (pip install 'attgan-batch[tensorrt-rtx]')")


def _build(checkpoint: Path, out: Path, *extra: str):
    result = CliRunner().invoke(main, ["build-engine", "-c", str(checkpoint), "--target", "tensorrt", "--out", str(out),
                                       *extra])
    plans = sorted(out.glob("*/*.plan"))
    return result, plans


def _meta(plan: Path) -> dict:
    return json.loads(sidecar_path(plan).read_text())


def test_the_reference_checkpoint_builds_fp32_and_fp16_plans_for_two_architectures(tmp_path, reference_dir):
    out = tmp_path / "engines"
    for precision in ("fp32", "fp16"):
        result, _ = _build(reference_dir, out, "--compute-capability", "86,89", "--precision", precision)
        assert result.exit_code == 0, result.output
        assert "TensorRT for RTX" in result.output and "SM86, SM89" in result.output
        [plan] = out.glob(f"*/generator-{precision}-*-trtrtx*-sm86-sm89.plan")
        meta = _meta(plan)
        assert meta["flavour"] == "tensorrt-rtx" and meta["compute_capabilities"] == ["SM86", "SM89"]
        assert meta["versions"]["tensorrt"] == trt.__version__ and meta["precision"] == precision
        assert (meta["profile"]["min_batch"], meta["profile"]["opt_batch"], meta["profile"]["max_batch"]) == (1, 8, 32)
        assert meta["graph"] == "plain" and meta["parity"]["status"] == "skipped" and "GPU" in meta["parity"]["reason"]
        assert plan.stat().st_size > 1_000_000
    assert (next(out.iterdir()) / "generator-fp32-plain.onnx").is_file()  # plans come from the plain graph


def test_a_plan_is_reused_until_its_checkpoint_profile_or_targets_change(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ck", img_size=32)
    out = tmp_path / "engines"
    first, [plan] = _build(ckpt, out, "--compute-capability", "86")
    again, _ = _build(ckpt, out, "--compute-capability", "86")
    assert first.exit_code == again.exit_code == 0 and "reused" in again.output and "built" in first.output
    other_targets, plans = _build(ckpt, out, "--compute-capability", "75,120")
    assert other_targets.exit_code == 0 and len(plans) == 2 and "built" in other_targets.output
    other_profile, plans = _build(ckpt, out, "--compute-capability", "86", "--batch", "1:4:8")
    assert other_profile.exit_code == 0 and len(plans) == 3
    # a changed checkpoint (new weights, new sha256) makes the old plan stale for it
    from attgan_batch.engines.artifacts import staleness_for
    from attgan_batch.model import load_checkpoint

    state = torch.load(ckpt / "checkpoint" / "weights.1.pth", weights_only=True)
    first_tensor = next(iter(state["G"]))
    state["G"][first_tensor] = state["G"][first_tensor] + 1
    torch.save(state, ckpt / "checkpoint" / "weights.1.pth")
    report = staleness_for(load_checkpoint(ckpt), plan, _meta(plan), precision="fp32", engines_dir=out)
    assert report.stale and "checkpoint" in report.fields


def test_a_style_model_and_all_architectures(tmp_path):
    ckpt = write_checkpoint(tmp_path / "styled", img_size=32, style={"Eyeglasses": 2}, inject_layers=1)
    result, [plan] = _build(ckpt, tmp_path / "engines", "--compute-capability", "all", "--precision", "fp16")
    assert result.exit_code == 0, result.output
    assert _meta(plan)["compute_capabilities"] == ["SM75", "SM80", "SM86", "SM89", "SM120", "SM121"]
    assert _meta(plan)["n_style"] == 2


def test_unknown_architectures_and_running_without_a_gpu_say_what_to_do(tmp_path, tiny_checkpoint):
    result, _ = _build(tiny_checkpoint, tmp_path / "e", "--compute-capability", "90")
    assert result.exit_code == 2 and "Hopper" in result.output and "75, 80, 86, 89, 120, 121" in result.output
    (tmp_path / "m.csv").write_text('id,image,source,edit\nr,a.png,"0,0,1,0,0,0,0,1,1,1,0,0,1",Male=1\n')
    run = CliRunner().invoke(main, ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"), "-c",
                                    str(tiny_checkpoint), "--backend", "tensorrt"])
    assert run.exit_code == 2
    assert "TensorRT for RTX is installed" in run.output and "needs an NVIDIA GPU" in run.output
    assert "--backend onnxruntime" in run.output
