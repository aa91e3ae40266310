"""The model reproduces the reference implementation's outputs and loads every checkpoint variant."""
from __future__ import annotations

import json
import pickle

import pytest
import torch

from attgan_batch.errors import CheckpointError
from attgan_batch.model import AttGANSettings, Discriminator, Generator, load_checkpoint
from attgan_batch.model.checkpoint import infer_generator_settings


@pytest.mark.parametrize("variant", ["checkpoint", "dataparallel"])
def test_reference_outputs_match_within_1e5(reference_dir, reference_dataparallel, reference_forward, variant):
    folder = reference_dir if variant == "checkpoint" else reference_dataparallel
    loaded = load_checkpoint(folder / "checkpoint" / "weights.7.pth")
    d = reference_forward
    with torch.no_grad():
        for k, name in enumerate(d["case_names"]):
            y = loaded.generator(d["x"], d["att_b_"][k])
            assert (y - d["y"][k]).abs().max().item() < 1e-5, name


def test_experiment_folder_reads_setting(reference_dir):
    loaded = load_checkpoint(reference_dir)
    assert loaded.setting_path == reference_dir / "setting.txt"
    assert loaded.settings.inject_layers == 1 and loaded.settings.enc_dim == 16
    assert loaded.notes == []
    assert loaded.discriminator is None


def test_default_generator_size_matches_the_paper_port():
    assert sum(p.numel() for p in Generator().parameters()) == 43_352_707
    assert round(sum(p.numel() for p in Generator(inject_layers=1).parameters()) / 1e6, 2) == 43.46


@pytest.mark.parametrize("kw", [
    {}, {"shortcut_layers": 0}, {"shortcut_layers": 2, "inject_layers": 1}, {"inject_layers": 3},
    {"enc_dim": 8, "dec_dim": 16}, {"enc_norm": "instancenorm", "dec_norm": "none"},
])
def test_architecture_inferred_from_weights(kw):
    g = Generator(enc_dim=kw.pop("enc_dim", 8), dec_dim=kw.pop("dec_dim", 8), **kw)
    inferred = infer_generator_settings(g.state_dict())
    rebuilt = Generator(**{k: v for k, v in inferred.items()})
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in g.state_dict().items()}


def test_no_setting_txt_and_module_prefix(tmp_path, reference_dataparallel, reference_forward):
    state = torch.load(reference_dataparallel / "checkpoint" / "weights.7.pth", weights_only=True)
    assert all(k.startswith("module.") for k in state["G"])
    torch.save(state, tmp_path / "weights.3.pth")
    loaded = load_checkpoint(tmp_path)
    assert any("inferred" in n for n in loaded.notes)
    y = loaded.generator(reference_forward["x"], reference_forward["att_b_"][0])
    assert (y - reference_forward["y"][0]).abs().max() < 1e-5


def test_old_setting_missing_keys_and_wrong_dims(tmp_path, reference_dir):
    raw = json.loads((reference_dir / "setting.txt").read_text())
    for key in ("data", "lambda_1", "lambda_2", "lambda_3", "lambda_gp", "test_int", "b_distribution"):
        raw.pop(key)
    raw["enc_dim"] = 64  # disagrees with the weights: the weights win, with a note
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "setting.txt").write_text(json.dumps(raw))
    (tmp_path / "checkpoint" / "weights.7.pth").write_bytes((reference_dir / "checkpoint" / "weights.7.pth").read_bytes())
    loaded = load_checkpoint(tmp_path)
    assert loaded.settings.test_int == 1.0 and loaded.settings.lambda_1 == 100.0
    assert loaded.settings.enc_dim == 16
    assert any("enc_dim" in n for n in loaded.notes)


def test_full_training_save_builds_d_only_when_asked(tmp_path):
    settings = AttGANSettings(img_size=32, enc_dim=8, dec_dim=8, dis_dim=8, dis_fc_dim=16, enc_layers=3,
                              dec_layers=3, dis_layers=3)
    g, d = Generator.from_settings(settings), Discriminator.from_settings(settings)
    og, od = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    torch.save({"G": g.state_dict(), "D": d.state_dict(), "optim_G": og.state_dict(), "optim_D": od.state_dict()},
               tmp_path / "weights.1.pth")
    (tmp_path / "setting.txt").write_text(settings.to_json())
    assert load_checkpoint(tmp_path).discriminator is None
    loaded = load_checkpoint(tmp_path, with_discriminator=True)
    x = torch.randn(2, 3, 32, 32)
    adv, cls = loaded.discriminator(x)
    assert adv.shape == (2, 1) and cls.shape == (2, 13)
    assert torch.allclose(cls, d.eval()(x)[1])


def test_setting_round_trip_keeps_unknown_keys():
    s = AttGANSettings.from_dict({"attrs": ["Male", "Young"], "img_size": 64, "custom_flag": 3})
    again = AttGANSettings.from_dict(json.loads(s.to_json()))
    assert again.attrs == ["Male", "Young"] and again.img_size == 64 and again.extra["custom_flag"] == 3
    assert json.loads(s.to_json())["n_attrs"] == 2


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    payload = {"G": _Evil(str(marker))}
    if writer == "pickle":
        with open(tmp_path / "weights.1.pth", "wb") as fh:
            pickle.dump(payload, fh, protocol=2)
    else:
        torch.save(payload, tmp_path / "weights.1.pth")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(tmp_path / "weights.1.pth")
    assert not marker.exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path, tiny_checkpoint):
    path = tiny_checkpoint / "checkpoint" / "weights.1.pth"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tiny_checkpoint)


def test_wrong_shape_names_the_layer(tmp_path, tiny_checkpoint):
    path = tiny_checkpoint / "checkpoint" / "weights.1.pth"
    state = torch.load(path, weights_only=True)
    state["G"]["enc_layers.1.layers.1.running_mean"] = torch.zeros(5)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"enc_layers\.1\.layers\.1\.running_mean"):
        load_checkpoint(tiny_checkpoint)


def test_missing_checkpoint_says_what_to_pass(tmp_path):
    with pytest.raises(CheckpointError, match="--checkpoint"):
        load_checkpoint(tmp_path / "nope")
