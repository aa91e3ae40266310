"""--executor ray: same report and images as the local executor, resume, and resource planning.

The end-to-end test starts a 2-CPU local Ray cluster (about 15 s here) and runs Ray Data with a
32 px generator; it is skipped when Ray is not installed (pip install 'attgan-batch[ray]').
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attgan_batch.errors import AttGANBatchError
from attgan_batch.executors.ray_executor import import_ray, plan_resources
from attgan_batch.pipeline import EngineOptions, RunOptions, ScaleOptions, run_manifest
from conftest import SOURCE_13, write_image

COMPARED = ["line", "id", "input", "output", "status", "error", "edit", "source", "source_predicted", "target",
            "applied", "edited", "conflicts"]


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as fh:
        return {r["id"] + "@" + r["line"]: {k: r[k] for k in COMPARED} for r in csv.DictReader(fh)}


# ------------------------------------------------------------------ no cluster needed


def test_resources_leave_room_for_reader_and_decoders():
    cpu = plan_resources(2, 0, workers=2, gpus_per_worker=0)
    assert cpu.read_cpus + 2 * cpu.worker_cpus <= 2 and cpu.decode_cpus == cpu.worker_cpus  # decode fuses in
    big = plan_resources(16, 0, workers=3, gpus_per_worker=0)
    assert big.worker_cpus == 5 and big.read_cpus == 1
    gpu = plan_resources(32, 8, workers=8, gpus_per_worker=1)
    assert gpu.worker_gpus == 1 and gpu.worker_cpus == 1 and 1 + 8 * gpu.worker_cpus < 32
    with pytest.raises(AttGANBatchError, match="needs 4 GPUs but the Ray cluster has 2"):
        plan_resources(32, 2, workers=4, gpus_per_worker=1)
    with pytest.raises(AttGANBatchError, match="at least 2 CPUs"):
        plan_resources(1, 0, workers=1, gpus_per_worker=0)


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AttGANBatchError, match=r"pip install 'attgan-batch\[ray\]'"):
        import_ray()


# ------------------------------------------------------------------ a real local cluster


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        ray = import_ray()
    except AttGANBatchError as exc:
        pytest.skip(f"Ray is not installed: {exc}")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture
def manifest_200(tmp_path) -> Path:
    for i in range(4):
        write_image(tmp_path / f"img{i}.png", size=(40 + 4 * i, 48), seed=i)
    edits = ["Male=1", "Blond_Hair=1", "Young=0;Eyeglasses=1", "~Bald", "", "Pale_Skin=flip@0.5", "Male:=0.3"]
    rows = [[f"r{i:03d}" if i % 10 else "", f"img{i % 4}.png", SOURCE_13, edits[i % len(edits)]] for i in range(194)]
    rows += [["grid", "img1.png", SOURCE_13, "flip-each"], ["missing", "nope.png", SOURCE_13, "Male=1"],
             ["bad-vector", "img0.png", "0,1", "Male=1"], ["bad-name", "img0.png", SOURCE_13, "Beard=1"],
             ["r001", "img2.png", SOURCE_13, "Male=0"], ["last", "img3.png", SOURCE_13, "Bangs=1"]]
    path = tmp_path / "m200.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit"])
        writer.writerows(rows)
    return path


def test_ray_matches_local_and_resumes(ray_cluster, tmp_path, tiny_checkpoint, manifest_200):
    common = dict(checkpoint=tiny_checkpoint, engine=EngineOptions(backend="torch", batch_size=8))
    local = run_manifest(manifest_200, RunOptions(out_dir=tmp_path / "local", **common))
    out = tmp_path / "ray"
    remote = run_manifest(manifest_200, RunOptions(out_dir=out, workers=2, **common, scale=ScaleOptions(executor="ray")))
    assert (remote.rows, remote.ok, remote.failed, remote.images_written) == \
           (local.rows, local.ok, local.failed, local.images_written) == (200, 196, 4, 209)
    reference = _rows(tmp_path / "local" / "report.csv")
    assert _rows(out / "report.csv") == reference
    identical = 0
    for row in reference.values():
        if row["status"] == "ok":
            a, b = out / row["output"], tmp_path / "local" / row["output"]
            identical += a.read_bytes() == b.read_bytes()
            diff = np.abs(np.asarray(Image.open(a), dtype=int) - np.asarray(Image.open(b), dtype=int))
            assert diff.max() <= 1, row["id"]
    assert identical >= 190  # in practice all; batch composition may move a pixel by one level
    summary = json.loads((out / "report.json").read_text())
    assert summary["backend"]["executor"] == "ray" and summary["backend"]["workers"] == 2
    assert {w["backend"] for w in summary["backend"]["workers_seen"]} == {"torch"}
    assert not list(out.rglob("*.tmp"))

    for folder in (out, tmp_path / "local"):  # a rerun redoes only what is gone, as the local executor does
        for name in ("r003.png", "grid.png"):
            (folder / name).unlink()
    local_again = run_manifest(manifest_200, RunOptions(out_dir=tmp_path / "local", **common))
    again = run_manifest(manifest_200, RunOptions(out_dir=out, workers=1, **common, scale=ScaleOptions(executor="ray")))
    # 193, not 194: the duplicate "r001" row's failure also un-finishes the first r001 (pipeline.resume)
    assert (again.resumed, again.ok, again.failed, again.rows) == \
           (local_again.resumed, local_again.ok, local_again.failed, local_again.rows) == (193, 196, 4, 200)
    assert (out / "r003.png").is_file() and (out / "grid.png").is_file()
    assert _rows(out / "report.csv") == reference
