"""The bundled demo model and manifest: `run` works with no --checkpoint, as README's first command."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from click.testing import CliRunner
from PIL import Image

from attgan_batch.cli import main
from attgan_batch.defaults import demo_checkpoint
from attgan_batch.model import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_demo_model_is_bundled_and_loads():
    path = demo_checkpoint()
    assert path is not None, "attgan_batch/assets/demo is missing"
    loaded = load_checkpoint(path)
    assert loaded.settings.img_size == 64 and loaded.notes == []
    # small enough to ship inside the package: one G-only weights file under 20 MB
    files = list((path / "checkpoint").iterdir())
    assert len(files) == 1 and files[0].suffix == ".pth" and files[0].stat().st_size < 20e6, files
    assert set(torch.load(files[0], weights_only=True)) == {"G"}  # the published layout, no critic or optimiser


def test_demo_manifest_runs_without_a_checkpoint(tmp_path):
    out = tmp_path / "edited"
    result = CliRunner().invoke(main, ["run", str(ROOT / "manifests" / "demo.csv"), "--out", str(out),
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"]["ok"] == 12 and summary["checkpoint"]["path"].endswith(".pth")
    assert Image.open(out / "face01.png").size == (64, 64)
    assert (out / "report.html").is_file()


def test_python_api_composes_like_run(tmp_path):
    """Editor.edit(compose=...) writes what `run --compose` writes, pixel for pixel (both eager torch)."""
    import csv

    import numpy as np

    from attgan_batch import Editor

    manifest = ROOT / "manifests" / "demo.csv"
    row = next(r for r in csv.DictReader(open(manifest)) if r["edit"] and r["edit"] != "flip-each")
    editor = Editor.from_checkpoint(None, device="cpu")
    for compose in ("residual", "replace"):
        out = tmp_path / compose
        result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "--backend", "torch", "-q",
                                           "--compose", compose])
        assert result.exit_code == 0, result.output
        written = np.asarray(Image.open(out / f"{row['id']}.png").convert("RGB")).astype(int)
        [api] = editor.edit([manifest.parent / row["image"]], [row["edit"]], sources=[row["source"]], compose=compose)
        assert np.abs(np.asarray(api).astype(int) - written).max() <= 1, compose
    [replaced] = editor.edit([manifest.parent / row["image"]], [row["edit"]], sources=[row["source"]])
    [residual] = editor.edit([manifest.parent / row["image"]], [row["edit"]], sources=[row["source"]], compose="residual")
    assert np.abs(np.asarray(replaced).astype(int) - np.asarray(residual).astype(int)).max() > 10
