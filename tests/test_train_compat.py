"""What `train` writes stays usable by the reference: run names, critic passes, loadable shapes,
and a new run never lands beside an old run's checkpoints."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from attgan_batch.cli import main
from attgan_batch.model import AttGANSettings, Discriminator, load_checkpoint
from attgan_batch.training import Trainer, checkpoints
from attgan_batch.training.compat import reference_incompatibilities
from attgan_batch.training.steps import DStep
from test_train import (config, one_thread, synth_dir, tensors, tiny_cli_train_args,  # noqa: F401 (fixtures)
                        tiny_settings)


def invoke(args):
    return CliRunner().invoke(main, args)


# ----------------------------------------------------------------------------- experiment_name


def test_experiment_name_is_the_out_folders_name(tmp_path, tensors):
    Trainer(config(tmp_path / "celeba_run7", max_steps=1), tensors).fit()
    assert json.loads((tmp_path / "celeba_run7" / "setting.txt").read_text())["experiment_name"] == "celeba_run7"


def test_an_exported_model_is_named_after_its_folder(tmp_path, tensors):
    from attgan_batch.training.export import export_generator

    Trainer(config(tmp_path / "run", max_steps=1), tensors).fit()
    export_generator(tmp_path / "run", tmp_path / "published_128")
    assert json.loads((tmp_path / "published_128" / "setting.txt").read_text())["experiment_name"] == "published_128"


def test_cli_experiment_name_defaults_to_out_not_a_settings_file(tmp_path, synth_dir):
    first = tmp_path / "first"
    assert invoke(tiny_cli_train_args(synth_dir, first, "Bald,Male", 1)).exit_code == 0
    second = tmp_path / "second"
    result = invoke(tiny_cli_train_args(synth_dir, second, "Bald,Male", 1, "--settings", str(first / "setting.txt")))
    assert result.exit_code == 0, result.output
    assert json.loads((second / "setting.txt").read_text())["experiment_name"] == "second"
    named = tmp_path / "third"
    result = invoke(tiny_cli_train_args(synth_dir, named, "Bald,Male", 1, "--experiment-name", "celeba"))
    assert result.exit_code == 0, result.output
    assert json.loads((named / "setting.txt").read_text())["experiment_name"] == "celeba"


def test_help_gives_the_real_experiment_name_default():
    text = " ".join(invoke(["train", "--help"]).output.split())
    assert "the --out folder's name" in text and "a timestamp" in text
    assert "reference default: attgan" not in text


# ----------------------------------------------------------------------------- critic passes


def two_pass_d_loss(D, real, fake, att_a):
    """The reference's trainD loss (wgan): D(real), then D(fake), then the penalty."""
    d_real, dc_real = D(real)
    d_fake, _ = D(fake)
    alpha = torch.rand(real.size(0), 1, 1, 1)
    x = (real + alpha * (fake - real)).requires_grad_(True)
    pred = D(x)[0]
    grad = torch.autograd.grad(pred, x, torch.ones_like(pred), create_graph=True)[0]
    gp = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    cls = torch.nn.functional.binary_cross_entropy_with_logits(dc_real, att_a)
    return -(d_real.mean() - d_fake.mean()) + 10 * gp + cls


@pytest.mark.parametrize("dis_norm", ["batchnorm", "instancenorm", "none"])
def test_d_step_equals_separate_real_and_fake_passes(dis_norm):
    s = tiny_settings(dis_norm=dis_norm)
    torch.manual_seed(0)
    D = Discriminator.from_settings(s)
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    att_a = (torch.rand(4, len(s.attrs)) > 0.5).float()
    step = DStep(D, "wgan", 10.0, 1.0)
    assert step.joint == (dis_norm != "batchnorm")
    state, buffers = torch.get_rng_state(), {k: v.clone() for k, v in D.state_dict().items()}
    expected = two_pass_d_loss(D, real, fake, att_a)
    expected_buffers = {k: v.clone() for k, v in D.state_dict().items()}
    D.load_state_dict(buffers)
    torch.set_rng_state(state)
    ours = step(real, fake, att_a)[0]
    assert ours.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert all(torch.allclose(expected_buffers[k], v) for k, v in D.state_dict().items())  # running stats too


# ----------------------------------------------------------------------------- loadable shapes


def test_reference_defaults_round_trip():
    assert reference_incompatibilities(AttGANSettings()) == []
    assert reference_incompatibilities(AttGANSettings(img_size=64, enc_dim=16, dec_dim=16, dis_fc_dim=32,
                                                      shortcut_layers=3, inject_layers=2)) == []


@pytest.mark.parametrize("overrides,expected", [
    (dict(dis_dim=32), "trunk has 512 channels"),
    (dict(dis_layers=4, img_size=64), "trunk has 512 channels"),
    (dict(attrs=["Bald", "Male"]), "2 attributes"),
    (dict(enc_dim=32, dec_dim=64), "shortcut 0 joins a 256-channel"),
    (dict(enc_dim=128, dec_dim=128), "shortcut 0 joins a 1024-channel"),  # the 1024 cap breaks the halving
    (dict(style={"Bald": 1}), "style controllers"),
])
def test_settings_the_reference_cannot_load_are_named(overrides, expected):
    problems = reference_incompatibilities(AttGANSettings(**overrides))
    assert len(problems) == 1 and expected in problems[0], problems


def test_enc_dim_differs_without_shortcuts_is_fine():
    assert reference_incompatibilities(AttGANSettings(enc_dim=32, dec_dim=64, shortcut_layers=0)) == []


def test_train_says_at_start_when_the_reference_cannot_load_the_run(tmp_path, synth_dir):
    result = invoke(tiny_cli_train_args(synth_dir, tmp_path / "small", "Bald,Male", 1))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "reference AttGAN-PyTorch cannot load" in text and "2 attributes" in text and "trunk has 32" in text


# ----------------------------------------------------------------------------- an --out that holds a run


def test_second_run_into_the_same_out_is_refused_then_overwrite_clears_it(tmp_path, synth_dir):
    out = tmp_path / "run"
    assert invoke(tiny_cli_train_args(synth_dir, out, "Bald,Male", 5)).exit_code == 0
    (out / "notes.txt").write_text("mine")
    old = out / "checkpoint" / "weights.5.pth"
    before = old.read_bytes()

    result = invoke(tiny_cli_train_args(synth_dir, out, "Bald,Male", 2))
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "already holds a training run" in text and "--resume" in text and "--overwrite" in text
    assert old.read_bytes() == before and not (out / "checkpoint" / "weights.2.pth").exists()

    result = invoke(tiny_cli_train_args(synth_dir, out, "Bald,Male", 2, "--overwrite", "--log-interval", "1"))
    assert result.exit_code == 0, result.output
    assert [p.name for _, p in checkpoints.list_checkpoints(out / "checkpoint")] == ["weights.2.pth"]
    assert load_checkpoint(out).weights_path.name == "weights.2.pth"  # what `run -c OUT` uses
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # the old run's metrics went with it
    assert (out / "notes.txt").read_text() == "mine"  # files the trainer did not write stay


def test_overwrite_excludes_resume_and_a_finetune_source_inside_out(tmp_path, synth_dir, tensors):
    out = tmp_path / "run"
    assert invoke(tiny_cli_train_args(synth_dir, out, "Bald,Male", 1)).exit_code == 0
    result = invoke(["train", "--out", str(out), "--resume", "--overwrite", "--no-progress"])
    assert result.exit_code == 2 and "exclude each other" in result.output
    result = invoke(tiny_cli_train_args(synth_dir, out, "Bald,Male", 1, "--overwrite", "--finetune", str(out)))
    assert result.exit_code == 2 and "inside --out" in " ".join(result.output.split())
    assert (out / "checkpoint" / "weights.1.pth").is_file()


def test_a_folder_with_only_a_setting_txt_counts_as_a_run(tmp_path, tensors):
    out = tmp_path / "crashed_early"
    out.mkdir()
    (out / "setting.txt").write_text(tiny_settings().to_json())
    with pytest.raises(Exception, match="already holds a training run"):
        Trainer(config(out, max_steps=1), tensors)
    Trainer(config(out, max_steps=1, overwrite=True), tensors).fit()
    assert checkpoints.latest_checkpoint(out / "checkpoint").name == "weights.1.pth"


def test_an_empty_or_unrelated_out_folder_is_fine(tmp_path, tensors):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "README.txt").write_text("my notes")
    Trainer(config(out, max_steps=1), tensors).fit()
    assert (out / "README.txt").read_text() == "my notes"


def test_resume_with_the_starting_settings_keeps_the_recorded_name(tmp_path, tensors):
    out = tmp_path / "named_run"
    Trainer(config(out, max_steps=1), tensors).fit()
    resumed = Trainer(config(out, max_steps=2, resume=True), tensors)  # tiny_settings() again: name "attgan"
    assert resumed.settings.experiment_name == "named_run"
