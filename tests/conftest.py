"""Shared fixtures: the reference checkpoint and its outputs (tests/fixtures), a private engine cache, tiny models."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attgan_batch.model import AttGANSettings, Generator


@pytest.fixture(scope="session", autouse=True)
def _private_engine_cache(tmp_path_factory):
    """Runs without --engines-dir use the per-user cache: in tests, one of the session's own (also
    for the subprocesses tests start), never the developer's."""
    import os

    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference_128"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """A checkpoint of the reference AttGAN-PyTorch (128 px, shortcut 1, inject 1, width 16), as it
    published it: setting.txt + checkpoint/weights.7.pth, and inputs/img0.png. Part of the
    repository, so the parity tests run in every clone; they fail, never skip, without it."""
    if not (REFERENCE / "forward.pt").is_file() or not (REFERENCE / "checkpoint" / "weights.7.pth").is_file():
        pytest.fail(f"the reference fixtures are missing from {REFERENCE}; restore tests/fixtures from git")
    return REFERENCE


@pytest.fixture(scope="session")
def reference_vectors(reference_dir):
    """The reference test script's attribute vectors for all 19 cases of 3 images (att_a, att_b_)."""
    return torch.load(reference_dir / "forward.pt", weights_only=True)


@pytest.fixture(scope="session")
def reference_forward(reference_vectors):
    """What the reference generator produced: ``y[k] = G.eval()(x, att_b_[k])`` for every case k,
    for image 0 (x (1, 3, 128, 128), att_b_ (19, 1, 13), y (19, 1, 3, 128, 128))."""
    d = dict(reference_vectors)
    d["att_a"], d["att_b_"] = d["att_a"][:1], d["att_b_"][:, :1]
    return d


@pytest.fixture(scope="session")
def reference_dataparallel(reference_dir, tmp_path_factory) -> Path:
    """The same weights as a DataParallel save writes them (every key prefixed ``module.``)."""
    state = torch.load(reference_dir / "checkpoint" / "weights.7.pth", weights_only=True)
    folder = tmp_path_factory.mktemp("dataparallel")
    (folder / "checkpoint").mkdir()
    (folder / "setting.txt").write_bytes((reference_dir / "setting.txt").read_bytes())
    torch.save({"G": {f"module.{k}": v for k, v in state["G"].items()}}, folder / "checkpoint" / "weights.7.pth")
    return folder


def write_checkpoint(folder: Path, *, img_size=32, dim=8, with_d=False, seed=0, **overrides) -> Path:
    """A small reference-format experiment folder (setting.txt + checkpoint/weights.1.pth)."""
    from attgan_batch.model import Discriminator

    torch.manual_seed(seed)
    settings = AttGANSettings(img_size=img_size, enc_dim=dim, dec_dim=dim, dis_dim=dim, dis_fc_dim=16,
                              enc_layers=3, dec_layers=3, dis_layers=3, **overrides)
    g = Generator.from_settings(settings).eval()
    state = {"G": g.state_dict()}
    if with_d:
        state["D"] = Discriminator.from_settings(settings).state_dict()
    (folder / "checkpoint").mkdir(parents=True, exist_ok=True)
    (folder / "setting.txt").write_text(settings.to_json())
    torch.save(state, folder / "checkpoint" / "weights.1.pth")
    return folder


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "tiny")


@pytest.fixture
def tiny_checkpoint_with_d(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "tiny_d", with_d=True)


def write_image(path: Path, size=(40, 40), seed=0, mode="RGB", fmt=None) -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


SOURCE_13 = "0,1,1,0,0,0,0,1,0,0,1,0,1"
