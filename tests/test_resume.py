"""Reruns into the same --out keep a row only when nothing that determines its output changed.

Real manifests, real images, real checkpoints: each test runs the pipeline twice and looks at the
files and the report of the second run.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from conftest import write_checkpoint, write_image

from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest

SOURCE_13 = "0,0,1,0,0,0,0,1,1,1,0,0,1"


def _write(path: Path, rows: list[dict]) -> Path:
    columns = sorted({k for r in rows for k in r}, key=["id", "image", "source", "edit", "output"].index)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _run(manifest: Path, out: Path, ckpt: Path, **kw):
    return run_manifest(manifest, RunOptions(out_dir=out, checkpoint=ckpt, engine=EngineOptions(backend="torch"), **kw))


def _report(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _rows(folder: Path, n: int = 3, edit: str = "Male=1") -> list[dict]:
    for i in range(n):
        write_image(folder / f"img{i}.png", size=(40, 40), seed=i)
    return [{"id": f"r{i}", "image": f"img{i}.png", "source": SOURCE_13, "edit": edit} for i in range(n)]


def test_unchanged_rows_resume_and_the_report_still_lists_them(tmp_path, tiny_checkpoint):
    manifest, out = _write(tmp_path / "m.csv", _rows(tmp_path)), tmp_path / "out"
    first = _run(manifest, out, tiny_checkpoint)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    again = _run(manifest, out, tiny_checkpoint)
    assert (first.ok, again.ok, again.resumed, again.redone) == (3, 3, 3, 0)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == mtimes  # nothing rewritten
    report = _report(out)
    assert set(report) == {"r0", "r1", "r2"} and all(r["status"] == "ok" for r in report.values())
    assert [r["line"] for r in report.values()] == ["2", "3", "4"]  # manifest order


def test_a_changed_edit_is_redone_and_the_report_says_why(tmp_path, tiny_checkpoint):
    rows = _rows(tmp_path)
    manifest, out = _write(tmp_path / "m.csv", rows), tmp_path / "out"
    _run(manifest, out, tiny_checkpoint)
    before = (out / "r1.png").read_bytes()
    rows[1]["edit"] = "Bald=1"
    _write(manifest, rows)
    again = _run(manifest, out, tiny_checkpoint)
    assert (again.resumed, again.redone) == (2, 1)
    report = _report(out)
    assert report["r1"]["edit"] == "Bald=1"
    assert "inputs changed since the earlier run: edit" in report["r1"]["note"]
    assert (out / "r1.png").read_bytes() != before


def test_another_checkpoint_redoes_every_row(tmp_path, tiny_checkpoint):
    manifest, out = _write(tmp_path / "m.csv", _rows(tmp_path)), tmp_path / "out"
    _run(manifest, out, tiny_checkpoint)
    other = write_checkpoint(tmp_path / "other", seed=7)
    again = _run(manifest, out, other)
    assert (again.resumed, again.redone, again.ok) == (0, 3, 3)
    assert all("checkpoint" in r["note"] for r in _report(out).values())


def test_two_manifests_with_default_ids_do_not_shadow_each_other(tmp_path, tiny_checkpoint):
    write_image(tmp_path / "a.png", seed=1)
    write_image(tmp_path / "b.png", seed=2)
    out = tmp_path / "out"
    first = _write(tmp_path / "one.csv", [{"image": "a.png", "source": SOURCE_13, "edit": "Male=1",
                                           "output": "one.png"}])
    second = _write(tmp_path / "two.csv", [{"image": "b.png", "source": SOURCE_13, "edit": "Male=1",
                                            "output": "two.png"}])
    _run(first, out, tiny_checkpoint)
    summary = _run(second, out, tiny_checkpoint)  # both rows have the id "row1"
    assert (summary.resumed, summary.ok) == (0, 1)
    assert (out / "two.png").is_file()


def test_a_changed_image_and_output_name_writes_the_new_output(tmp_path, tiny_checkpoint):
    rows = _rows(tmp_path, 1)
    manifest, out = _write(tmp_path / "m.csv", rows), tmp_path / "out"
    _run(manifest, out, tiny_checkpoint)
    write_image(tmp_path / "new.png", seed=9)
    rows[0] |= {"image": "new.png", "output": "renamed.png"}
    _write(manifest, rows)
    summary = _run(manifest, out, tiny_checkpoint)
    assert (summary.resumed, summary.redone) == (0, 1)
    assert (out / "renamed.png").is_file()
    note = _report(out)["r0"]["note"]
    assert "image" in note and "output" in note


def test_a_touched_input_file_is_redone(tmp_path, tiny_checkpoint):
    manifest, out = _write(tmp_path / "m.csv", _rows(tmp_path, 2)), tmp_path / "out"
    _run(manifest, out, tiny_checkpoint)
    write_image(tmp_path / "img0.png", seed=42)  # same path, new content
    st = os.stat(tmp_path / "img0.png")
    os.utime(tmp_path / "img0.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    summary = _run(manifest, out, tiny_checkpoint)
    assert (summary.resumed, summary.redone) == (1, 1)


def test_an_option_that_changes_pixels_redoes_rows_and_force_redoes_everything(tmp_path, tiny_checkpoint):
    from attgan_batch.pipeline import EditOptions

    manifest, out = _write(tmp_path / "m.csv", _rows(tmp_path, 2)), tmp_path / "out"
    _run(manifest, out, tiny_checkpoint)
    crop = _run(manifest, out, tiny_checkpoint, edit=EditOptions(crop="none"))
    assert (crop.resumed, crop.redone) == (0, 2)
    assert "--crop" in _report(out)["r0"]["note"]
    forced = _run(manifest, out, tiny_checkpoint, edit=EditOptions(crop="none"), force=True)
    assert (forced.resumed, forced.ok) == (0, 2)


def test_a_deleted_output_or_grid_is_redone(tmp_path, tiny_checkpoint):
    from attgan_batch.pipeline import OutputOptions

    manifest, out = _write(tmp_path / "m.csv", _rows(tmp_path, 2)), tmp_path / "out"
    _run(manifest, out, tiny_checkpoint, output=OutputOptions(grid=True))
    record = next(r for r in map(json.loads, (out / ".attgan-batch" / "journal.jsonl").read_text().splitlines())
                  if r["id"] == "r0")
    assert record["files"] == ["r0.png", "r0.grid.png"] and record["fingerprint"]["grid"]
    (out / "r0.grid.png").unlink()
    summary = _run(manifest, out, tiny_checkpoint, output=OutputOptions(grid=True))
    assert (summary.resumed, summary.ok) == (1, 2)
    assert (out / "r0.grid.png").is_file()
