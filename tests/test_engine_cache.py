"""The per-user engine cache: used by default, shared across processes and folders, safe to race."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from attgan_batch.cli import main
from attgan_batch.engines.cache import default_engines_dir

PREPARE = r"""
import sys
from attgan_batch.engines import EngineOptions, select_backend
from attgan_batch.model import load_checkpoint
logs = []
backend = select_backend(load_checkpoint(sys.argv[1]), EngineOptions(backend="onnxruntime"), log=logs.append)
print(sum("exporting" in line for line in logs), backend.describe()["engine"])
"""


def test_the_cache_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_engines_dir() == tmp_path / "x" / "attgan-batch" / "engines"


def test_two_processes_racing_for_one_engine_export_it_once(tmp_path, tiny_checkpoint):
    env = os.environ | {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", PREPARE, str(tiny_checkpoint)], env=env, cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for folder in (tmp_path, tiny_checkpoint.parent)]  # two working directories, one cache
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    exports = [int(out.split()[0]) for out, _ in results]
    engines = {out.split()[1] for out, _ in results}
    assert sorted(exports) == [0, 1]  # one built it, the other waited and reused it
    assert len(engines) == 1 and Path(engines.pop()).is_relative_to(tmp_path / "cache" / "attgan-batch")
    third = subprocess.run([sys.executable, "-c", PREPARE, str(tiny_checkpoint)], env=env, capture_output=True,
                           text=True, check=True)
    assert third.stdout.split()[0] == "0"  # a later process finds it too


def test_cache_info_and_clear(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    subprocess.run([sys.executable, "-c", PREPARE, str(tiny_checkpoint)], env=os.environ.copy(), check=True,
                   capture_output=True)
    runner = CliRunner()
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["path"] == str(tmp_path / "cache" / "attgan-batch" / "engines")
    assert len(info["entries"]) == 1 and info["bytes"] > 0
    assert any(f.endswith(".onnx") for f in info["entries"][0]["files"])
    cleared = runner.invoke(main, ["cache", "clear"])
    assert cleared.exit_code == 0 and "cleared" in cleared.output
    assert json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)["entries"] == []
