"""Kill, interrupt, lock, disk-full and permission failures: nothing lost, nothing partial."""
from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from attgan_batch.cli import main
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest
from attgan_batch.report import read_journal
from conftest import SOURCE_13, write_checkpoint, write_image


def _manifest(folder: Path, n: int) -> Path:
    write_image(folder / "a.png", size=(64, 64))
    path = folder / "m.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit"])
        for i in range(n):
            writer.writerow([f"r{i:03d}", "a.png", SOURCE_13, "Male=1" if i % 2 else "Young=0"])
    return path


def _report(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _journal_lines(out: Path) -> int:
    path = out / ".attgan-batch" / "journal.jsonl"
    return sum(1 for _ in open(path)) if path.exists() else 0


def _start(manifest: Path, out: Path, ckpt: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "attgan_batch", "run", str(manifest), "--out", str(out),
                             "-c", str(ckpt), "--backend", "torch", "-b", "2", "-q", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(proc: subprocess.Popen, out: Path, rows: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while _journal_lines(out) < rows:
        assert proc.poll() is None, f"run ended before it could be stopped: {proc.communicate()}"
        assert time.time() < deadline, "run made no progress"
        time.sleep(0.02)


@pytest.fixture
def slow_checkpoint(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "ckpt", img_size=64, dim=32)


def test_sigkill_then_rerun_completes_without_redoing(tmp_path, slow_checkpoint):
    manifest, out = _manifest(tmp_path, 120), tmp_path / "out"
    proc = _start(manifest, out, slow_checkpoint)
    _wait_for_rows(proc, out, 6)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # A row is finished once its journal record is on disk. An image renamed into place just before
    # the kill, whose record never got written, is not finished and is legitimately redone.
    journaled = {r["output"] for r in read_journal(out / ".attgan-batch" / "journal.jsonl") if r["status"] == "ok"}
    done_before = {name: (out / name).stat().st_mtime_ns for name in journaled}
    assert 6 <= len(done_before) < 120
    assert (out / ".attgan-batch" / "lock").exists()  # the killed run's stale lock

    rerun = _start(manifest, out, slow_checkpoint)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    report = _report(out)
    assert len(report) == 120 and all(r["status"] == "ok" for r in report.values())
    for name, mtime in done_before.items():  # finished rows were not redone
        assert (out / name).stat().st_mtime_ns == mtime
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"]["resumed"] == len(done_before)
    assert any("stale lock" in w for w in summary["warnings"])
    assert not [p for p in out.rglob("*.tmp")]  # no partial file anywhere
    assert len(list(out.glob("r*.png"))) == 120


def test_sigint_finishes_in_flight_writes_report_and_exits_130(tmp_path, slow_checkpoint):
    manifest, out = _manifest(tmp_path, 120), tmp_path / "out"
    proc = _start(manifest, out, slow_checkpoint)
    _wait_for_rows(proc, out, 4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    summary = json.loads((out / "report.json").read_text())
    assert summary["interrupted"] is True
    report = _report(out)
    assert len(report) == 120  # every row is in the report: ok or skipped
    statuses = {r["status"] for r in report.values()}
    assert statuses <= {"ok", "skipped"} and "skipped" in statuses
    for r in report.values():
        assert (out / r["output"]).is_file() == (r["status"] == "ok")
    assert not list(out.rglob("*.tmp")) and not (out / ".attgan-batch" / "lock").exists()


def test_second_run_into_same_out_is_refused(tmp_path, tiny_checkpoint):
    manifest, out = _manifest(tmp_path, 3), tmp_path / "out"
    (out / ".attgan-batch").mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".attgan-batch" / "lock").write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename}))
        result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                           "--backend", "torch", "-q"])
        assert result.exit_code == 2 and f"pid {holder.pid}" in result.output
        assert not list(out.glob("r*.png"))
    finally:
        holder.kill()
        holder.wait()
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 0  # the holder is dead now: its lock is stale and taken over


def test_unwritable_out_is_a_clear_usage_error(tmp_path, tiny_checkpoint):
    manifest = _manifest(tmp_path, 2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(blocker / "sub"), "-c",
                                       str(tiny_checkpoint), "--backend", "torch", "-q"])
    assert result.exit_code == 2 and "cannot write into --out" in result.output


def test_permission_denied_on_one_output(tmp_path, tiny_checkpoint, monkeypatch):
    from attgan_batch.atomic import OutputDir

    real = OutputDir.open_atomic

    def flaky(self, relative, *args, **kwargs):
        if str(relative) == "r001.png":
            raise PermissionError(errno.EACCES, "Permission denied", str(relative))
        return real(self, relative, *args, **kwargs)

    monkeypatch.setattr(OutputDir, "open_atomic", flaky)
    manifest, out = _manifest(tmp_path, 4), tmp_path / "out"
    summary = run_manifest(manifest, RunOptions(out_dir=out, checkpoint=tiny_checkpoint,
                                                engine=EngineOptions(backend="torch")))
    report = _report(out)
    assert summary.exit_code == 1 and report["r001"]["status"] == "failed"
    assert "cannot write output r001.png: Permission denied" in report["r001"]["error"]
    assert [report[f"r00{i}"]["status"] for i in (0, 2, 3)] == ["ok"] * 3


def test_disk_full_on_a_real_tiny_tmpfs(tmp_path, tiny_checkpoint):
    mount = tmp_path / "tmpfs_mount"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); the fault-injection test covers the write path")
    try:
        manifest, out = _manifest(tmp_path, 40), mount / "out"
        summary = run_manifest(manifest, RunOptions(out_dir=out, checkpoint=tiny_checkpoint,
                                                engine=EngineOptions(backend="torch")))
        assert summary.exit_code == 1
        with open(summary.report_csv, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 40  # the report covers every row, wherever it had to be written
        failed = [r for r in rows if r["status"] == "failed"]
        assert failed and all("No space left on device" in r["error"] for r in failed)
        assert not [p for p in out.rglob("*.tmp")]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_stale_temp_files_of_outputs_and_thumbnails_are_removed_and_other_state_is_kept(tmp_path):
    """A kill can land in an output's or a thumbnail's write; the next run removes both leftovers,
    and only those: a user's own ``.notes.tmp`` and a live process's temp file stay."""
    from attgan_batch import atomic
    from attgan_batch.thumbnails import thumbs_dir

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    host = atomic.temp_name().split("-")[1]
    out = tmp_path / "out"
    leftovers = [out / "sub" / f".agb-{host}-{gone.pid}-0.tmp", thumbs_dir(out) / f".agb-{host}-{gone.pid}-1f.tmp"]
    kept = [out / ".mynotes.tmp", out / "sub" / ".a.png.41.tmp", out / "sub" / f".agb-{host}-1-0.tmp",
            out / "sub" / "b.png", thumbs_dir(out) / "5add580d70a0221cde99.out.jpg"]
    for path in leftovers + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert atomic.remove_orphan_temps(out) == 2
    assert not any(p.exists() for p in leftovers) and all(p.exists() for p in kept)


def test_a_report_that_cannot_go_into_out_goes_elsewhere_and_quiet_still_says_where(tmp_path, tiny_checkpoint):
    """report.csv cannot be written into --out (here a folder stands where the file goes): the
    report goes to a temp folder, the run exits 1, and even with -q stderr names that folder."""
    manifest, out = _manifest(tmp_path, 6), tmp_path / "out"
    (out / "report.csv").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "attgan_batch", "run", str(manifest), "--out", str(out),
                             "-c", str(tiny_checkpoint), "--backend", "torch", "-q"], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "wrote it to" in result.stderr, result.stderr
    fallback = Path(result.stderr.split("wrote it to ")[1].split()[0])
    with open(fallback / "report.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    assert not (out / ".attgan-batch" / "lock").exists()


def _immutable(*folders: Path, on: bool = True) -> bool:
    """chattr +i: not even root may add or remove entries (a truly read-only folder); False when
    the file system or the container does not allow it."""
    flag = "+i" if on else "-i"
    return all(subprocess.run(["chattr", flag, str(f)], capture_output=True).returncode == 0 for f in folders)


def test_out_made_read_only_mid_run_reports_elsewhere_and_says_so_even_quiet(tmp_path, slow_checkpoint):
    """Rows fail with the file system's reason, the report goes to a temp folder, the lock that cannot
    be removed is a warning, and stderr names where the report went (with -q too): no traceback."""
    probe = tmp_path / "probe"
    probe.mkdir()
    if not _immutable(probe) or not _immutable(probe, on=False):
        pytest.skip("chattr +i is not allowed here (needs root and CAP_LINUX_IMMUTABLE)")
    manifest, out = _manifest(tmp_path, 120), tmp_path / "out"
    proc = _start(manifest, out, slow_checkpoint)
    try:
        _wait_for_rows(proc, out, 4)
        assert _immutable(out, out / ".attgan-batch")
        _, err = proc.communicate(timeout=300)
    finally:
        _immutable(out, out / ".attgan-batch", on=False)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "wrote it to" in err and "could not remove the lock" in err, err
    fallback = Path(err.split("wrote it to ")[1].split()[0])
    with open(fallback / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 120
    assert any("Operation not permitted" in r["error"] for r in rows if r["status"] == "failed")


