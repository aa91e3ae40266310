"""A hostile manifest or a changing file system never makes ``run`` write outside --out, crash
the batch, or hand a spreadsheet a formula. Real symlinks, real signals, real subprocesses."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_image

from attgan_batch.cli import main
from attgan_batch.lock import OutputLocked
from attgan_batch.pipeline import EngineOptions, OutputOptions, RunOptions, ScaleOptions, run_manifest
from attgan_batch.shards import Shard

SOURCE_13 = "0,0,1,0,0,0,0,1,1,1,0,0,1"


def _manifest(folder: Path, outputs: list[str], ids: list[str] | None = None) -> Path:
    write_image(folder / "a.png", size=(40, 40))
    path = folder / "m.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit", "output"])
        for i, output in enumerate(outputs):
            writer.writerow([ids[i] if ids else f"r{i}", "a.png", SOURCE_13, "Male=1", output])
    return path


def _options(out: Path, ckpt: Path, **kw) -> RunOptions:
    return RunOptions(out_dir=out, checkpoint=ckpt, engine=EngineOptions(backend="torch", batch_size=4), **kw)


def _report(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _files_below(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]


def test_a_symlink_swapped_in_mid_run_never_lets_a_write_out(tmp_path, tiny_checkpoint):
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    manifest = _manifest(tmp_path, [f"sub/t{i}.png" for i in range(240)])
    (out / "sub").mkdir(parents=True)
    done = threading.Event()
    swaps = 0

    def swap():  # flip out/sub between a real folder and a link to a folder outside --out
        nonlocal swaps
        sub, parked = out / "sub", out / "parked"
        while not done.is_set():
            try:
                os.rename(sub, parked)
                os.symlink(outside, sub)
                time.sleep(0.002)
                os.unlink(sub)
                os.rename(parked, sub)
                swaps += 1
            except OSError:
                pass  # the run created out/sub in between: try again
            time.sleep(0.001)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        summary = run_manifest(manifest, _options(out, tiny_checkpoint))
    finally:
        done.set()
        swapper.join()
    assert swaps > 0
    assert _files_below(outside) == []  # not one image, not one temp file
    report = _report(out)
    assert len(report) == 240 and summary.rows == 240
    failed = [r for r in report.values() if r["status"] == "failed"]
    unexpected = [r["error"] for r in failed if not any(
        reason in r["error"] for reason in ("symbolic link", "symlink", "not a folder", "No such file", "Not a directory",
                                           "Invalid argument"))]  # the folder vanished mid-write: the row fails
    assert unexpected == []


def test_a_symlink_loop_fails_its_row_and_the_others_proceed(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink("loopy", out / "loopy")
    manifest = _manifest(tmp_path, ["ok1.png", "loopy/x.png", "ok2.png"])
    summary = run_manifest(manifest, _options(out, tiny_checkpoint))
    report = _report(out)
    assert summary.exit_code == 1 and json.loads((out / "report.json").read_text())["exit_code"] == 1
    assert report["r1"]["status"] == "failed" and "loopy" in report["r1"]["error"]
    assert report["r0"]["status"] == report["r2"]["status"] == "ok"
    check = CliRunner().invoke(main, ["check", str(manifest), "-c", str(tiny_checkpoint), "--out", str(out)])
    assert check.exception is None or isinstance(check.exception, SystemExit), check.output
    assert "loopy" in check.output


def test_a_250_character_output_name_is_written(tmp_path, tiny_checkpoint):
    name = "n" * 246 + ".png"
    out = tmp_path / "out"
    summary = run_manifest(_manifest(tmp_path, [name]), _options(out, tiny_checkpoint))
    assert summary.exit_code == 0 and (out / name).is_file()


def test_a_row_writing_another_rows_grid_is_refused(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    manifest = _manifest(tmp_path, ["x.png", "x.grid.png"])
    summary = run_manifest(manifest, _options(out, tiny_checkpoint, output=OutputOptions(grid=True)))
    report = _report(out)
    assert summary.exit_code == 1 and report["r0"]["status"] == "ok"
    assert report["r1"]["status"] == "failed" and "also written by line 2" in report["r1"]["error"]
    assert (out / "x.grid.png").is_file()


def test_report_csv_defuses_formulas_but_keeps_numbers(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    ids = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(1+1)", "-2+3", "plain"]
    manifest = _manifest(tmp_path, ["a.png", "b.png", "c.png", "d.png", "=x8.png"], ids)
    run_manifest(manifest, _options(out, tiny_checkpoint))
    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["'" + i for i in ids[:4]] + ["plain"]
    assert rows[4]["output"] == "'=x8.png"
    assert all(r["source"] == SOURCE_13 for r in rows)  # numeric vectors stay parseable
    assert float(rows[0]["seconds"]) >= 0
    journal = [json.loads(line) for line in (out / ".attgan-batch" / "journal.jsonl").read_text().splitlines()]
    assert [r["id"] for r in journal] == ids  # the machine-readable record keeps the raw values
    assert (out / "=x8.png").is_file()


@pytest.fixture
def live_pid():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def _hold_lock(out: Path, name: str, pid: int) -> None:
    import socket

    state = out / ".attgan-batch"
    state.mkdir(parents=True, exist_ok=True)
    (state / name).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_a_whole_run_and_a_shard_never_run_into_one_out_together(tmp_path, tiny_checkpoint, live_pid):
    manifest = _manifest(tmp_path, ["a.png", "b.png"])
    plain_out, shard_out = tmp_path / "plain", tmp_path / "shard"
    _hold_lock(plain_out, "lock.2-of-2", live_pid)  # a shard is running there
    with pytest.raises(OutputLocked, match="shard 2/2"):
        run_manifest(manifest, _options(plain_out, tiny_checkpoint))
    _hold_lock(shard_out, "lock", live_pid)  # a whole-manifest run is running there
    with pytest.raises(OutputLocked, match="whole-manifest run"):
        run_manifest(manifest, _options(shard_out, tiny_checkpoint, scale=ScaleOptions(shard=Shard(1, 2))))
    assert not (plain_out / "a.png").exists() and not (shard_out / "report.1-of-2.csv").exists()
    # neither refused run left its own lock behind
    assert sorted(p.name for p in (plain_out / ".attgan-batch").iterdir()) == ["lock.2-of-2"]


def test_sigterm_finishes_in_flight_rows_writes_the_report_and_exits_143(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    manifest = _manifest(tmp_path, [f"t{i}.png" for i in range(3000)])
    proc = subprocess.Popen([sys.executable, "-m", "attgan_batch", "run", str(manifest), "--out", str(out), "-c",
                             str(tiny_checkpoint), "--backend", "torch", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = out / ".attgan-batch" / "journal.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (journal.is_file() and journal.stat().st_size > 2000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    summary = json.loads((out / "report.json").read_text())
    assert summary["exit_code"] == 143 and summary["interrupted"]
    report = _report(out)
    assert len(report) == 3000
    statuses = {r["status"] for r in report.values()}
    assert statuses == {"ok", "skipped"}
    assert all(Path(out / r["output"]).is_file() for r in report.values() if r["status"] == "ok")
