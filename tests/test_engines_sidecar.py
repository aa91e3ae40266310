"""Sidecar metadata and staleness: each recorded field that stops matching is named, with the rebuild command."""
from __future__ import annotations

import json

import pytest

from attgan_batch.engines.sidecar import (
    build_meta, check_staleness, parse_profile, read_sidecar, sidecar_path, write_sidecar,
)

GPU = {"index": 0, "name": "NVIDIA L4", "compute_capability": "8.9"}
CKPT_SHA = "a" * 64


def _artifact(tmp_path, target="tensorrt", **overrides):
    path = tmp_path / ("generator-fp16.plan" if target == "tensorrt" else "generator-fp16.onnx")
    path.write_bytes(b"serialized engine bytes")
    kwargs = dict(target=target, artifact=path, checkpoint_sha256=CKPT_SHA, checkpoint_path="/models/ckpt",
                  precision="fp16", opset=18, image_size=128, n_attrs=13, profile=(1, 8, 32),
                  parity={"status": "passed", "max_abs_diff": 1e-4, "tolerance": 5e-3},
                  onnx_sha256="b" * 64, exporter="dynamo",
                  tensorrt_version="11.4.0" if target == "tensorrt" else None,
                  gpu=GPU if target == "tensorrt" else None)
    kwargs.update(overrides)
    meta = build_meta(**kwargs)
    write_sidecar(path, meta)
    return path, meta


def _check(path, meta, **overrides):
    kwargs = dict(checkpoint_sha256=CKPT_SHA, checkpoint_path="/models/ckpt", precision="fp16", image_size=128,
                  engines_dir="engines", batch_size=8, tensorrt_version="11.4.0", gpu=dict(GPU))
    kwargs.update(overrides)
    return check_staleness(path, meta, **kwargs)


def test_sidecar_records_what_built_the_artifact(tmp_path):
    path, meta = _artifact(tmp_path)
    on_disk = json.loads(sidecar_path(path).read_text())
    assert sidecar_path(path).name == "generator-fp16.plan.json"
    assert on_disk == read_sidecar(path) == meta
    assert on_disk["checkpoint_sha256"] == CKPT_SHA and on_disk["onnx_sha256"] == "b" * 64
    assert on_disk["opset"] == 18 and on_disk["precision"] == "fp16"
    assert on_disk["profile"] == {"min_batch": 1, "opt_batch": 8, "max_batch": 32, "dynamic_batch": False,
                                  "image_size": 128, "n_attrs": 13}
    assert on_disk["gpu"] == GPU and on_disk["versions"]["tensorrt"] == "11.4.0"
    assert {"attgan_batch", "torch", "onnx", "onnxruntime"} <= set(on_disk["versions"])
    assert on_disk["parity"]["status"] == "passed"


def test_fresh_artifact_is_not_stale(tmp_path):
    path, meta = _artifact(tmp_path)
    report = _check(path, meta)
    assert not report.stale and report.fields == []


@pytest.mark.parametrize("change, field, detail", [
    ({"checkpoint_sha256": "c" * 64}, "checkpoint", "sha256 aaaaaaaaaaaa"),
    ({"precision": "fp32"}, "precision", "fp16"),
    ({"image_size": 256}, "shape", "256 px"),
    ({"batch_size": 64}, "shape", "batch 1:8:32"),
    ({"tensorrt_version": "11.5.0"}, "tensorrt", "TensorRT 11.4.0"),
    ({"gpu": {"index": 0, "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}}, "gpu", "NVIDIA L4"),
    ({"gpu": {"index": 0, "name": "NVIDIA L4", "compute_capability": "8.6"}}, "gpu", "sm 8.9"),
])
def test_each_differing_field_is_named(tmp_path, change, field, detail):
    path, meta = _artifact(tmp_path)
    report = _check(path, meta, **change)
    assert report.fields == [field]
    assert detail in report.message()
    assert "attgan-batch build-engine --checkpoint /models/ckpt" in report.message()


def test_rebuild_command_is_exact_and_widens_the_profile(tmp_path):
    path, meta = _artifact(tmp_path)
    assert _check(path, meta, precision="fp32").command == (
        "attgan-batch build-engine --checkpoint /models/ckpt --precision fp32 --batch 1:8:32 --out engines "
        "--target tensorrt")
    assert "--batch 1:64:64" in _check(path, meta, batch_size=64).command


def test_several_fields_at_once(tmp_path):
    path, meta = _artifact(tmp_path)
    report = _check(path, meta, checkpoint_sha256="d" * 64, tensorrt_version="10.13.0",
                    gpu={"name": "Tesla T4", "compute_capability": "7.5"})
    assert report.fields == ["checkpoint", "tensorrt", "gpu"]


def test_modified_file_and_missing_sidecar_are_stale(tmp_path):
    path, meta = _artifact(tmp_path)
    path.write_bytes(b"something else")
    assert _check(path, meta).fields == ["file"]
    sidecar_path(path).unlink()
    assert read_sidecar(path) is None
    assert _check(path, None).fields == ["sidecar"]
    sidecar_path(path).write_text("{not json")
    assert read_sidecar(path) is None


def test_onnx_artifacts_ignore_batch_tensorrt_and_gpu(tmp_path):
    path, meta = _artifact(tmp_path, target="onnx")
    report = _check(path, meta, batch_size=512, tensorrt_version="12.0", gpu={"name": "x", "compute_capability": "1.0"})
    assert not report.stale
    assert _check(path, meta, precision="fp32").command.endswith("--target onnx")


@pytest.mark.parametrize("text, expected", [("1:8:32", (1, 8, 32)), ("16", (1, 16, 16)), (" 2:2:2 ", (2, 2, 2))])
def test_parse_profile(text, expected):
    assert parse_profile(text) == expected


@pytest.mark.parametrize("text", ["8:1:32", "0:1:2", "1:8", "a:b:c", "1:2:3:4", ""])
def test_parse_profile_rejects(text):
    with pytest.raises(ValueError, match="batch profile"):
        parse_profile(text)
