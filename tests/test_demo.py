"""The bundled demo model and manifest: `run` works with no --checkpoint, as README's first command."""
from __future__ import annotations

import json
from pathlib import Path

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
    assert (path / "checkpoint").stat() and sum(p.stat().st_size for p in (path / "checkpoint").iterdir()) < 10e6


def test_demo_manifest_runs_without_a_checkpoint(tmp_path):
    out = tmp_path / "edited"
    result = CliRunner().invoke(main, ["run", str(ROOT / "manifests" / "demo.csv"), "--out", str(out),
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"]["ok"] == 12 and summary["checkpoint"]["path"].endswith(".pth")
    assert Image.open(out / "face01.png").size == (64, 64)
    assert (out / "report.html").is_file()
