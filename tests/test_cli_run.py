"""End to end through the CLI: real image files, a real checkpoint folder, reports on disk."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from attgan_batch.cli import main
from conftest import SOURCE_13, write_image


def _manifest(folder: Path, rows: list[dict]) -> Path:
    path = folder / "manifest.csv"
    columns = sorted({k for r in rows for k in r}, key=["id", "image", "source", "edit", "target", "output",
                                                         "intensity"].index)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _report(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


@pytest.fixture
def mixed_manifest(tmp_path):
    data = tmp_path / "data"
    write_image(data / "a.png", seed=1)
    write_image(data / "b.jpg", size=(178, 218), seed=2, fmt="JPEG")
    (data / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    rows = [
        {"id": "good-png", "image": "data/a.png", "source": SOURCE_13, "edit": "Blond_Hair=1"},
        {"id": "good-jpg", "image": str(data / "b.jpg"), "source": SOURCE_13, "edit": "Male=0;Young=0"},
        {"id": "grid", "image": "data/a.png", "source": SOURCE_13, "edit": "flip-each"},
        {"id": "missing", "image": "data/nope.png", "source": SOURCE_13, "edit": "Male=1"},
        {"id": "corrupt", "image": "data/corrupt.png", "source": SOURCE_13, "edit": "Male=1"},
        {"id": "bad-vector", "image": "data/a.png", "source": "0,1,2", "edit": "Male=1"},
        {"id": "bad-name", "image": "data/a.png", "source": SOURCE_13, "edit": "Beard=1"},
    ]
    return _manifest(tmp_path, rows)


def test_run_mixed_manifest_reports_each_row(tmp_path, tiny_checkpoint, mixed_manifest):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(mixed_manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "--batch-size", "3", "-q"])
    assert result.exit_code == 1, result.output
    report = _report(out)
    assert set(report) == {"good-png", "good-jpg", "grid", "missing", "corrupt", "bad-vector", "bad-name"}
    for ok in ("good-png", "good-jpg", "grid"):
        assert report[ok]["status"] == "ok", report[ok]
        assert Image.open(out / report[ok]["output"]).size[1] >= 32
    assert Image.open(out / "good-png.png").size == (32, 32)
    assert Image.open(out / "grid.png").size[0] == 32 * 15  # input + recon + 13 flips
    assert "image not found" in report["missing"]["error"]
    assert "corrupt" in report["corrupt"]["error"] or "not an image" in report["corrupt"]["error"]
    assert "3 values" in report["bad-vector"]["error"]
    assert "unknown attribute 'Beard'" in report["bad-name"]["error"]
    assert report["good-png"]["conflicts"] == "Black_Hair 1->0 (Blond_Hair on)"
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"] == {"rows": 7, "ok": 3, "failed": 4, "skipped": 0, "resumed": 0, "redone": 0}
    assert summary["exit_code"] == 1 and summary["checkpoint"]["sha256"]
    assert not list(out.glob("*.tmp")) and not (out / ".attgan-batch" / "lock").exists()


def test_all_good_rows_exit_zero_and_rerun_resumes(tmp_path, tiny_checkpoint):
    write_image(tmp_path / "a.png")
    manifest = _manifest(tmp_path, [{"id": f"r{i}", "image": "a.png", "source": SOURCE_13, "edit": "Male=1"}
                                    for i in range(5)])
    out = tmp_path / "out"
    args = ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint), "--backend", "torch", "-q"]
    assert CliRunner().invoke(main, args).exit_code == 0
    first = (out / "r0.png").stat().st_mtime_ns
    (out / "r3.png").unlink()  # lost output: redone; the others are kept
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"]["resumed"] == 4 and summary["counts"]["ok"] == 5
    assert (out / "r0.png").stat().st_mtime_ns == first and (out / "r3.png").is_file()
    assert len(_report(out)) == 5
    assert CliRunner().invoke(main, args + ["--force"]).exit_code == 0
    assert json.loads((out / "report.json").read_text())["counts"]["resumed"] == 0


def test_output_outside_out_is_refused(tmp_path, tiny_checkpoint):
    write_image(tmp_path / "a.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside)
    rows = [{"id": "abs", "image": "a.png", "source": SOURCE_13, "output": str(tmp_path / "x.png")},
            {"id": "dots", "image": "a.png", "source": SOURCE_13, "output": "../x.png"},
            {"id": "link", "image": "a.png", "source": SOURCE_13, "output": "link/x.png"},
            {"id": "fine", "image": "a.png", "source": SOURCE_13, "output": "sub/ok.jpg"}]
    manifest = _manifest(tmp_path, rows)
    before = {p for p in tmp_path.rglob("*") if out not in p.parents and p != out}
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 1
    report = _report(out)
    assert "absolute" in report["abs"]["error"] and "'..'" in report["dots"]["error"]
    assert "symlink" in report["link"]["error"]
    assert report["fine"]["status"] == "ok" and Image.open(out / "sub" / "ok.jpg").format == "JPEG"
    after = {p for p in tmp_path.rglob("*") if out not in p.parents and p != out}
    assert after == before and not list(outside.iterdir())


def test_missing_source_without_d_fails_row_with_d_predicts(tmp_path, tiny_checkpoint, tiny_checkpoint_with_d):
    """G-only weights and no source: the row fails when guessing is refused (by default the source is
    inferred by reconstruction, tests/test_cli_inputs.py); with D, D predicts it."""
    write_image(tmp_path / "a.png")
    manifest = _manifest(tmp_path, [{"id": "r", "image": "a.png", "edit": "Male=1"}])
    runner = CliRunner()
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    assert runner.invoke(main, ["run", str(manifest), "--out", str(out1), "-c", str(tiny_checkpoint),
                                "--backend", "torch", "-q", "--source-from", "discriminator"]).exit_code == 1
    assert "source" in _report(out1)["r"]["error"]
    assert runner.invoke(main, ["run", str(manifest), "--out", str(out2), "-c", str(tiny_checkpoint_with_d),
                                "--backend", "torch", "-q"]).exit_code == 0
    row = _report(out2)["r"]
    assert row["source_predicted"].startswith("Bald=") and len(row["source"].split(",")) == 13


def test_conflicts_error_mode_fails_the_row(tmp_path, tiny_checkpoint):
    write_image(tmp_path / "a.png")
    manifest = _manifest(tmp_path, [{"id": "r", "image": "a.png", "source": SOURCE_13, "edit": "Blond_Hair=1"}])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "--conflicts", "error", "-q"])
    assert result.exit_code == 1 and "Black_Hair" in _report(out)["r"]["error"]


def test_max_failures_stops_and_skips_the_rest(tmp_path, tiny_checkpoint):
    write_image(tmp_path / "a.png")
    rows = [{"id": f"bad{i}", "image": "nope.png", "source": SOURCE_13} for i in range(3)]
    rows += [{"id": f"ok{i}", "image": "a.png", "source": SOURCE_13} for i in range(30)]
    manifest = _manifest(tmp_path, rows)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "--max-failures", "1", "-b", "2", "-q"])
    assert result.exit_code == 1
    summary = json.loads((out / "report.json").read_text())
    assert "max-failures" in summary["aborted"] and summary["counts"]["skipped"] > 0
    assert summary["counts"]["rows"] == 33


def test_usage_errors_exit_2(tmp_path, tiny_checkpoint):
    runner = CliRunner()
    assert runner.invoke(main, ["run", "x.csv"]).exit_code == 2  # --out missing
    result = runner.invoke(main, ["run", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"),
                                  "-c", str(tiny_checkpoint), "--backend", "torch"])
    assert result.exit_code == 2 and "does not exist" in result.output
    write_image(tmp_path / "a.png")
    manifest = _manifest(tmp_path, [{"id": "r", "image": "a.png", "source": SOURCE_13}])
    result = runner.invoke(main, ["run", str(manifest), "--out", str(tmp_path / "o"), "-c", str(tmp_path / "no-ckpt")])
    assert result.exit_code == 2 and "--checkpoint" in result.output


def test_check_command_table_and_exit_codes(tmp_path, tiny_checkpoint, mixed_manifest):
    result = CliRunner().invoke(main, ["check", str(mixed_manifest), "-c", str(tiny_checkpoint), "--json"])
    assert result.exit_code == 1
    rows = {r["id"]: r for r in map(json.loads, result.output.strip().splitlines())}
    assert rows["good-png"]["status"] == "valid" and "Black_Hair 1->0" in rows["good-png"]["details"]
    assert rows["corrupt"]["status"] == "invalid" and rows["missing"]["status"] == "invalid"


def test_help_lists_commands_and_exit_codes():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "run" in result.output and "check" in result.output
    result = CliRunner().invoke(main, ["run", "--help"])
    assert "Exit codes" in result.output and "--max-failures" in result.output


def test_python_api_edit(reference_dir):
    from attgan_batch import Editor

    editor = Editor.from_checkpoint(reference_dir, device="cpu")
    img = Image.open(reference_dir / "inputs" / "img0.png")
    [single, grid] = editor.edit([img, img], ["Blond_Hair=1", "flip-each"],
                                 sources=["0,1,1,1,0,0,0,1,1,0,1,1,0"] * 2)
    assert single.size == (128, 128) and grid.size[0] == 128 * 15
    assert np.asarray(single).std() > 0
