"""After a finished local `run` the console script leaves without the interpreter's teardown, with the
run's exit code and every line of its output; other commands exit normally."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import SOURCE_13, write_image

ENTRY = """
import atexit, sys
atexit.register(lambda: print("interpreter teardown ran", file=sys.stderr))
sys.argv = ["attgan-batch", *sys.argv[1:]]
from attgan_batch.cli import entry
entry()
"""


def _entry(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_a_finished_run_exits_quickly_with_its_code_and_its_whole_summary(tiny_checkpoint, tmp_path):
    write_image(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "m.csv").write_text(f'id,image,source,edit\nok,ok.png,"{SOURCE_13}",Male=1\n'
                                    f'bad,bad.png,"{SOURCE_13}",Male=1\n')
    done = _entry("run", "m.csv", "--out", "out", "-c", str(tiny_checkpoint), "--backend", "torch", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # one row failed
    assert "2 rows: 1 ok, 1 failed" in done.stderr and "report" in done.stderr
    assert "interpreter teardown ran" not in done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counts"]["ok"] == 1 and report["exit_code"] == 1
    assert (tmp_path / "out" / "ok.png").is_file()


def test_other_commands_and_failed_setups_exit_normally(tiny_checkpoint, tmp_path):
    (tmp_path / "m.csv").write_text(f'id,image,source,edit\nr,x.png,"{SOURCE_13}",Male=1\n')
    checked = _entry("check", "m.csv", "-c", str(tiny_checkpoint), cwd=tmp_path)
    assert "interpreter teardown ran" in checked.stderr, checked.stderr
    missing = _entry("run", "m.csv", "--out", "out", "-c", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "interpreter teardown ran" in missing.stderr
