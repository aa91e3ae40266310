"""Checkpoint and image files that are not what they claim: FIFOs, devices, garbage, code-carrying pickles.

Anything that could block runs in a subprocess (or a daemon thread) with a timeout, so a regression
fails the test instead of hanging the suite.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from attgan_batch.data.images import load_rgb
from attgan_batch.errors import CheckpointError, RowError
from attgan_batch.model import load_checkpoint
from conftest import SOURCE_13, write_checkpoint, write_image

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
ROOT = Path(__file__).resolve().parents[1]


def _load_in_subprocess(target: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    code = ("import sys\nfrom attgan_batch.model import load_checkpoint\nfrom attgan_batch.errors import CheckpointError\n"
            "try:\n    load_checkpoint(sys.argv[1])\nexcept CheckpointError as exc:\n    print('CheckpointError:', exc)\n"
            "    sys.exit(2)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@needs_fifo
def test_fifo_as_newest_weights_is_refused_not_waited_on(tmp_path):
    folder = write_checkpoint(tmp_path / "ck")
    os.mkfifo(folder / "checkpoint" / "weights.9.pth")  # the newest: the loader picks it
    result = _load_in_subprocess(folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "weights.9.pth" in result.stdout and "not a regular file" in result.stdout
    assert "FIFO" in result.stdout


@needs_fifo
def test_fifo_given_as_the_weights_file(tmp_path):
    fifo = tmp_path / "weights.1.pth"
    os.mkfifo(fifo)
    result = _load_in_subprocess(fifo)
    assert result.returncode == 2 and "not a regular file" in result.stdout, result.stdout + result.stderr


@needs_fifo
def test_fifo_setting_txt_is_refused_not_ignored(tmp_path):
    folder = write_checkpoint(tmp_path / "ck")
    (folder / "setting.txt").unlink()
    os.mkfifo(folder / "setting.txt")
    result = _load_in_subprocess(folder)
    assert result.returncode == 2 and "setting.txt" in result.stdout and "not a regular file" in result.stdout, \
        result.stdout + result.stderr


def test_a_device_is_not_a_checkpoint(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    result = _load_in_subprocess(Path("/dev/zero"), timeout=60)
    assert result.returncode == 2 and "character device" in result.stdout, result.stdout + result.stderr


@needs_fifo
def test_cli_run_with_a_fifo_checkpoint_exits_2(tmp_path):
    folder = write_checkpoint(tmp_path / "ck")
    os.mkfifo(folder / "checkpoint" / "weights.9.pth")
    write_image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text(f'image,source\na.png,"{SOURCE_13}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "attgan_batch", "run", str(tmp_path / "m.csv"), "--out",
                             str(tmp_path / "o"), "-c", str(folder), "--backend", "torch", "-q"],
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 2, result.stderr
    assert "not a regular file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [
    pytest.param(os.urandom(4096), id="random-bytes"),
    pytest.param(b"these are not weights\n" * 50, id="text"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, id="png-header"),
    pytest.param(b"PK\x03\x04" + b"\x00" * 100, id="broken-zip"),
    pytest.param(pickle.dumps({"G": [1, 2, 3]}, protocol=0), id="plain-pickle"),
])
def test_garbage_weights_say_not_a_pytorch_checkpoint(tmp_path, content):
    (tmp_path / "weights.1.pth").write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "weights.1.pth")
    message = str(info.value)
    assert "not a PyTorch checkpoint" in message and "Python objects" not in message, message


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_code_carrying_pickle_is_named_as_such(tmp_path, writer):
    path = tmp_path / "weights.1.pth"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"G": _Evil()}, protocol=2))
    else:
        torch.save({"G": _Evil()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "Python objects" in message and "weights_only" in message and "system" in message, message


def _in_thread(fn, timeout: float = 20):
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked"
    return box


@needs_fifo
def test_fifo_image_is_not_a_regular_file_and_never_blocks(tmp_path):
    fifo = tmp_path / "face.png"
    os.mkfifo(fifo)
    box = _in_thread(lambda: load_rgb(fifo))
    assert isinstance(box.get("error"), RowError) and "not a regular file" in str(box["error"]), box


def test_device_image_is_not_a_regular_file(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    for device in ("/dev/null", "/dev/zero"):
        box = _in_thread(lambda: load_rgb(device))
        assert isinstance(box.get("error"), RowError), box
        assert "not a regular file" in str(box["error"]) and "character device" in str(box["error"])


def test_empty_regular_image_still_says_empty(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(RowError, match=r"empty \(0 bytes\)"):
        load_rgb(tmp_path / "e.png")
