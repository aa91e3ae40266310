"""The trainer: reference objective and step order, exact resume, checkpoints, fine-tuning, NaN stops."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from PIL import Image
import torch.nn.functional as F
from click.testing import CliRunner
from torch.utils.data import TensorDataset

from attgan_batch.model import AttGANSettings, Discriminator, Generator, load_checkpoint
from attgan_batch.training import TrainConfig, Trainer, TrainingDiverged, resume_settings
from attgan_batch.training import checkpoints, losses
from attgan_batch.training.d_augment import make_augment, translate
from attgan_batch.training.export import export_generator
from attgan_batch.training.finetune import generator_attribute_keys, read_source, transfer
from attgan_batch.training.metrics import read_metrics
from attgan_batch.training.targets import make_targets

ATTRS = ["Bald", "Eyeglasses", "Male", "Pale_Skin"]


def tiny_settings(**overrides) -> AttGANSettings:
    base = dict(attrs=list(ATTRS), img_size=32, enc_dim=8, dec_dim=8, dis_dim=8, dis_fc_dim=16, enc_layers=3,
                dec_layers=3, dis_layers=3, batch_size=4, n_d=2, save_interval=1000, sample_interval=1000,
                n_samples=4)
    base.update(overrides)
    return AttGANSettings(**base)


def config(out, **overrides) -> TrainConfig:
    settings = overrides.pop("settings", None) or tiny_settings()
    return TrainConfig(out=out, settings=settings, log_interval=1, progress=False, **overrides)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run 10x+ faster on one thread than on contended OpenMP threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    """A small synthetic face set (CelebA format) drawn by the project's generator."""
    from attgan_batch.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synth") / "faces", n=60, size=32, seed=3)


@pytest.fixture(scope="module")
def tensors():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 3, 32, 32, generator=g) * 2 - 1
    a = (torch.rand(24, len(ATTRS), generator=g) > 0.5).float()
    return TensorDataset(x, a)


def losses_by_step(out) -> dict[int, dict]:
    return {r["step"]: {k: v for k, v in r.items() if k not in ("time", "cpu_s", "it_s")}
            for r in read_metrics(out / "metrics.jsonl") if "event" not in r}


# ----------------------------------------------------------------------------- pieces


def test_gradient_penalty_of_a_linear_critic_is_exact():
    w = torch.randn(3 * 4 * 4)
    critic = lambda x: x.flatten(1) @ w[:, None]  # noqa: E731 - gradient is w everywhere
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    expected = (w.norm() - 1) ** 2
    assert torch.allclose(losses.gradient_penalty(critic, real, fake), expected, rtol=1e-5)
    assert torch.allclose(losses.gradient_penalty(critic, real), expected, rtol=1e-5)  # DRAGAN interpolates


def test_targets_shuffle_a_over_the_batch_and_scale():
    torch.manual_seed(0)
    a = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.float32)
    t = make_targets(a, 0.5)
    assert sorted(map(tuple, t.att_b.tolist())) == sorted(map(tuple, a.tolist()))
    assert torch.equal(t.att_a_, (a * 2 - 1) * 0.5) and torch.equal(t.att_b_, (t.att_b * 2 - 1) * 0.5)
    for dist in ("uniform", "truncated_normal"):
        t = make_targets(a, 0.5, dist)
        assert torch.equal(torch.sign(t.att_b_), t.att_b * 2 - 1)  # direction kept, magnitude random
        assert t.att_b_.abs().max() <= 1.0 and len(set(t.att_b_.abs().flatten().tolist())) > 2


def test_critic_translation_shifts_whole_pixels_and_passes_gradients():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 16, 16, requires_grad=True)
    y = translate(x, ratio=0.25)
    for i in range(6):  # each image is its own copy shifted by an integer offset, zero-filled
        matches = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                   if torch.equal(y[i], torch.roll(x[i], (dy, dx), (1, 2)) * shifted_mask(16, dy, dx))]
        assert len(matches) == 1
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="colour"):
        make_augment("colour")


def shifted_mask(size: int, dy: int, dx: int) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] = 1
    return mask


def test_atomic_save_and_keep_last(tmp_path):
    for step in (5, 10, 15, 20):
        checkpoints.atomic_save({"step": step}, checkpoints.weights_path(tmp_path, step))
    assert checkpoints.prune(tmp_path, keep=2) == [tmp_path / "weights.5.pth", tmp_path / "weights.10.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.15.pth", "weights.20.pth"]  # no temp files left
    assert checkpoints.latest_checkpoint(tmp_path) == tmp_path / "weights.20.pth"


def test_finetune_to_another_attribute_list_remaps_by_name():
    torch.manual_seed(0)
    src_attrs, dst_attrs = ["Bald", "Male", "Young"], ["Male", "Bald", "Eyeglasses", "Young"]
    kw = dict(enc_dim=8, dec_dim=8, enc_layers=3, dec_layers=3, inject_layers=1)
    src, dst = Generator(n_attrs=3, **kw), Generator(n_attrs=4, **kw)
    fresh = {k: v.clone() for k, v in dst.state_dict().items()}
    keys = generator_attribute_keys(3, 1)
    report = transfer(dst, src.state_dict(), keys, src_attrs, dst_attrs)
    s, d = src.state_dict(), dst.state_dict()
    assert sorted(report.remapped) == sorted(keys) and not report.initialised
    assert torch.equal(d["enc_layers.0.layers.0.weight"], s["enc_layers.0.layers.0.weight"])
    w_src, w_dst, w_new = s["dec_layers.0.layers.0.weight"], d["dec_layers.0.layers.0.weight"], fresh["dec_layers.0.layers.0.weight"]
    feat = w_src.shape[0] - 3
    assert torch.equal(w_dst[:feat], w_src[:feat])
    assert torch.equal(w_dst[feat + 0], w_src[feat + 1])  # Male
    assert torch.equal(w_dst[feat + 1], w_src[feat + 0])  # Bald
    assert torch.equal(w_dst[feat + 2], w_new[feat + 2])  # Eyeglasses: new, keeps its initialisation
    assert torch.equal(w_dst[feat + 3], w_src[feat + 2])  # Young
    assert any("Eyeglasses" in line for line in report.lines("G"))


# ----------------------------------------------------------------------------- the objective


def reference_iteration(G, D, opt_G, opt_D, it, img_a, att_a, n_d, mode, thres_int=0.5):
    """The reference train.py/attgan.py iteration, written plainly (default lambdas)."""
    att_b = att_a[torch.randperm(len(att_a))].contiguous()
    att_a_, att_b_ = (att_a * 2 - 1) * thres_int, (att_b * 2 - 1) * thres_int
    if (it + 1) % (n_d + 1) != 0:
        D.requires_grad_(True)
        img_fake = G(img_a, att_b_).detach()
        d_real, dc_real = D(img_a)
        d_fake, _ = D(img_fake)
        other = img_fake
        if mode != "wgan":  # DRAGAN: interpolate towards a perturbed copy of the real batch
            other = img_a + 0.5 * img_a.var().sqrt() * torch.rand_like(img_a)
        alpha = torch.rand(img_a.size(0), 1, 1, 1)
        x = (img_a + alpha * (other - img_a)).requires_grad_(True)
        pred = D(x)[0]
        grad = torch.autograd.grad(pred, x, torch.ones_like(pred), create_graph=True, retain_graph=True)[0]
        gp = ((grad.view(grad.size(0), -1).norm(2, dim=1) - 1.0) ** 2).mean()
        if mode == "wgan":
            adv = -(d_real.mean() - d_fake.mean())
        elif mode == "lsgan":
            adv = F.mse_loss(d_real, torch.ones_like(d_real)) + F.mse_loss(d_fake, torch.zeros_like(d_fake))
        else:
            adv = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                   + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        d_loss = adv + 10 * gp + F.binary_cross_entropy_with_logits(dc_real, att_a)
        opt_D.zero_grad()
        d_loss.backward()
        opt_D.step()
        return "D", d_loss.item()
    D.requires_grad_(False)
    zs = G.encode(img_a)
    img_fake, img_recon = G.decode(zs, att_b_), G.decode(zs, att_a_)
    d_fake, dc_fake = D(img_fake)
    gf = {"wgan": -d_fake.mean(), "lsgan": F.mse_loss(d_fake, torch.ones_like(d_fake)),
          "dcgan": F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))}[mode]
    g_loss = (gf + 10 * F.binary_cross_entropy_with_logits(dc_fake, att_b)
              + 100 * F.l1_loss(img_recon, img_a))
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    return "G", g_loss.item()


@pytest.mark.parametrize("mode,dis_norm", [("wgan", "instancenorm"), ("lsgan", "instancenorm"),
                                           ("dcgan", "instancenorm"), ("wgan", "batchnorm")])
def test_training_steps_match_the_reference_loop(tmp_path, tensors, mode, dis_norm):
    """A batch-norm critic must see real and fake in separate passes, as in the reference."""
    s = tiny_settings(mode=mode, dis_norm=dis_norm)
    trainer = Trainer(config(tmp_path / "run", settings=s, seed=5), tensors)
    torch.manual_seed(5)
    G, D = Generator.from_settings(s), Discriminator.from_settings(s)
    opt_G = torch.optim.Adam(G.parameters(), lr=s.lr, betas=(s.beta1, s.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=s.lr, betas=(s.beta1, s.beta2))
    torch.manual_seed(5)
    x, a = tensors.tensors
    for it in range(7):
        img, att = x[4 * it % 24:4 * it % 24 + 4], a[4 * it % 24:4 * it % 24 + 4]
        rng_state = torch.get_rng_state()  # both draw the same shuffles and penalty points
        phase, ref = reference_iteration(G, D, opt_G, opt_D, it, img, att, s.n_d, mode)
        torch.set_rng_state(rng_state)
        ours = trainer.train_step(img, att)
        trainer.step += 1
        assert ("d_loss" in ours) == (phase == "D"), f"iteration {it}: step order differs"
        assert ours["d_loss" if phase == "D" else "g_loss"] == pytest.approx(ref, rel=1e-4, abs=1e-5), it


def test_losses_finite_reconstruction_improves_and_checkpoint_loads(tmp_path, synth_dir):
    out = tmp_path / "run"
    s = tiny_settings(n_d=1, save_interval=100, sample_interval=200)
    result = Trainer(config(out, settings=s, data=synth_dir, max_steps=200, keep_last=2, cache=True)).fit()
    assert result.step == 200 and result.stopped == "max_steps"
    records = list(losses_by_step(out).values())
    assert all(v == v and abs(v) != float("inf") for r in records for k, v in r.items() if k.endswith("loss"))
    rec = [r["gr_loss"] for r in records if "gr_loss" in r]
    assert sum(rec[-10:]) / 10 < 0.7 * sum(rec[:5]) / 5, rec  # L1 reconstruction goes down
    assert [p.name for _, p in checkpoints.list_checkpoints(out / "checkpoint")] == ["weights.100.pth", "weights.200.pth"]
    sample = Image.open(out / "sample_training" / "step_0000200.png")
    size, n_attrs = s.img_size, len(s.attrs)
    assert sample.size[0] == size * (n_attrs + 2)  # input, recon, one flip per attribute
    assert sample.convert("RGB").getpixel((size - 1, 0)) == (255, 255, 255)  # a caption band above the tiles

    raw = torch.load(out / "checkpoint" / "weights.200.pth", weights_only=True)
    assert {"G", "D", "optim_G", "optim_D", "step", "rng", "sampler"} <= set(raw) and raw["step"] == 200
    loaded = load_checkpoint(out, with_discriminator=True)
    assert loaded.settings.attrs == ATTRS and loaded.discriminator is not None and loaded.notes == []
    setting = json.loads((out / "setting.txt").read_text())
    assert setting["enc_dim"] == 8 and setting["n_attrs"] == 4 and setting["betas"] == [0.5, 0.999]


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_gives_the_same_next_losses_as_an_uninterrupted_run(tmp_path, synth_dir, workers):
    # 12 iterations per epoch: the resume crosses an epoch; augmentation and uniform b draw randomness
    s = tiny_settings(b_distribution="uniform", num_workers=workers)
    kw = dict(data=synth_dir, augment=True)
    Trainer(config(tmp_path / "a", settings=s, max_steps=16, **kw)).fit()
    Trainer(config(tmp_path / "b", settings=dataclasses.replace(s, save_interval=7), max_steps=10, **kw)).fit()
    (tmp_path / "b" / "checkpoint" / "weights.10.pth").unlink()  # as if killed after iteration 10
    resumed = Trainer(config(tmp_path / "b", settings=resume_settings(tmp_path / "b"), max_steps=16, resume=True, **kw))
    assert resumed.step == 7
    resumed.fit()
    a, b = losses_by_step(tmp_path / "a"), losses_by_step(tmp_path / "b")
    steps = [r["step"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl")]
    assert steps == list(range(1, 17))  # iterations 8-10 of the killed run were dropped from the log
    for step in range(8, 17):
        assert a[step] == b[step], step  # bit-identical losses after the resume point


def test_resume_refuses_changed_architecture(tmp_path, tensors):
    Trainer(config(tmp_path / "r", max_steps=2), tensors).fit()
    with pytest.raises(ValueError, match="enc_dim"):
        Trainer(config(tmp_path / "r", settings=tiny_settings(enc_dim=16), resume=True, max_steps=4), tensors)


def test_nan_loss_stops_before_the_update_and_keeps_the_checkpoint(tmp_path, tensors):
    out = tmp_path / "nan"
    trainer = Trainer(config(out, settings=tiny_settings(save_interval=5), max_steps=10), tensors)
    trainer.fit()
    before = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    trainer.D.conv.register_forward_hook(lambda m, i, o: o * float("nan"))
    trainer.config.max_steps = 20
    with pytest.raises(TrainingDiverged, match=r"weights\.10\.pth"):
        trainer.fit()
    after = trainer.D.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the bad update was never applied
    assert [n for n, _ in checkpoints.list_checkpoints(out / "checkpoint")] == [5, 10]
    assert load_checkpoint(out).weights_path.name == "weights.10.pth"
    assert read_metrics(out / "metrics.jsonl")[-1]["event"] == "diverged"


def test_finetune_from_a_published_g_file(tmp_path, tensors):
    run, src = tmp_path / "run", tmp_path / "published"
    Trainer(config(run, max_steps=3), tensors).fit()
    export_generator(run, src, {"note": "test"})  # the published layout: setting.txt + {'G'}
    raw = torch.load(src / "checkpoint" / "weights.3.pth", weights_only=True)
    assert set(raw) == {"G"} and read_source(src).d_state is None
    assert "data_path" not in json.loads((src / "setting.txt").read_text())
    assert load_checkpoint(src).settings.attrs == ATTRS
    new_attrs = ["Male", "Bald", "Young"]
    messages: list[str] = []
    t = Trainer(config(tmp_path / "ft", settings=tiny_settings(attrs=new_attrs), finetune=src, max_steps=3),
                TensorDataset(tensors.tensors[0], tensors.tensors[1][:, :3]), log=messages.append)
    assert torch.equal(t.G.state_dict()["enc_layers.1.layers.0.weight"], raw["G"]["enc_layers.1.layers.0.weight"])
    text = "\n".join(messages)
    assert "remapped by attribute name" in text and "new (learned from scratch): Young" in text
    assert "D starts from scratch" in text
    t.fit()


def test_ema_averages_weights_and_buffers_with_a_warm_up():
    from attgan_batch.training.ema import GeneratorEMA

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ema = GeneratorEMA(net, 0.99)
    old = {k: v.clone() for k, v in ema.model.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(2.0)
        net[1].num_batches_tracked.fill_(7)
    ema.update(net)  # first update: decay min(0.99, 1/10) = 0.1, so 90% of the new weights
    new = net.state_dict()
    got = ema.model.state_dict()
    for k in ("0.weight", "0.bias", "1.weight", "1.running_mean"):
        assert torch.allclose(got[k], 0.1 * old[k] + 0.9 * new[k], atol=1e-6), k
    assert int(got["1.num_batches_tracked"]) == 7
    assert ema.updates == 1 and ema.current_decay() == pytest.approx(2 / 11)
    assert all(not p.requires_grad for p in ema.model.parameters())
    for _ in range(1000):
        ema.update(net)
    assert ema.current_decay() == 0.99
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(out="x", ema=1.0)


def test_ema_is_saved_resumed_exactly_and_exported_in_the_g_slot(tmp_path, tensors):
    s = tiny_settings(n_d=1)
    a = Trainer(config(tmp_path / "a", settings=s, max_steps=12, ema=0.9), tensors)
    a.fit()
    raw = torch.load(tmp_path / "a" / "checkpoint" / "weights.12.pth", weights_only=True)
    assert raw["ema"] == {"decay": 0.9, "updates": 6}  # n_d 1: every second iteration updates G
    assert not torch.equal(raw["G_ema"]["enc_layers.0.layers.0.weight"], raw["G"]["enc_layers.0.layers.0.weight"])
    assert json.loads((tmp_path / "a" / "setting.txt").read_text())["ema"] == 0.9

    b = Trainer(config(tmp_path / "b", settings=dataclasses.replace(s, save_interval=5), max_steps=7, ema=0.9), tensors)
    b.fit()
    (tmp_path / "b" / "checkpoint" / "weights.7.pth").unlink()  # as if killed after iteration 7
    resumed = Trainer(config(tmp_path / "b", settings=resume_settings(tmp_path / "b"), max_steps=12, resume=True,
                             ema=0.9), tensors)
    assert resumed.step == 5 and resumed.ema.updates == 2
    resumed.fit()
    raw_b = torch.load(tmp_path / "b" / "checkpoint" / "weights.12.pth", weights_only=True)
    assert raw_b["ema"] == raw["ema"]
    for k, v in raw["G_ema"].items():
        assert torch.equal(v, raw_b["G_ema"][k]), k  # the average resumes bit-exactly too

    export_generator(tmp_path / "a", tmp_path / "pub")
    published = torch.load(tmp_path / "pub" / "checkpoint" / "weights.12.pth", weights_only=True)
    assert set(published) == {"G"}
    assert all(torch.equal(v, raw["G_ema"][k]) for k, v in published["G"].items())
    export_generator(tmp_path / "a", tmp_path / "last", ema=False)
    last = torch.load(tmp_path / "last" / "checkpoint" / "weights.12.pth", weights_only=True)
    assert all(torch.equal(v, raw["G"][k]) for k, v in last["G"].items())
    loaded = load_checkpoint(tmp_path / "pub")  # the published layout loads like any reference G file
    x = tensors.tensors[0][:2]
    with torch.no_grad():
        assert loaded.generator(x, torch.zeros(2, len(ATTRS))).shape == x.shape


def tiny_cli_train_args(data, out, attrs: str, max_steps: int, *extra: str) -> list[str]:
    """`attgan-batch train` of a tiny model (reference-style and dashed option names mixed on purpose)."""
    return ["train", "--data", str(data), "--out", str(out), "--attrs", attrs, "--img-size", "32",
            "--enc-dim", "8", "--dec_dim", "8", "--dis-dim", "8", "--dis-fc-dim", "16", "--enc-layers", "3",
            "--dec-layers", "3", "--dis-layers", "3", "--batch-size", "4", "--n_d", "1", "--max-steps", str(max_steps),
            "--no-progress", *extra]


def test_cli_train_then_resume(tmp_path, synth_dir):
    from attgan_batch.cli import main

    out = tmp_path / "cli"
    args = tiny_cli_train_args(synth_dir, out, "Bald,Male", 4, "--log-interval", "1", "--d-augment", "translation")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    setting = json.loads((out / "setting.txt").read_text())
    assert setting["attrs"] == ["Bald", "Male"] and setting["n_d"] == 1 and setting["lambda_1"] == 100.0
    assert setting["d_augment"] == "translation"
    result = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--max-steps", "6", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert checkpoints.latest_checkpoint(out / "checkpoint").name == "weights.6.pth"
    assert "G_ema" not in torch.load(out / "checkpoint" / "weights.6.pth", weights_only=True)


def test_cli_ema_is_kept_on_resume(tmp_path, synth_dir):
    from attgan_batch.cli import main

    out = tmp_path / "ema"
    result = CliRunner().invoke(main, tiny_cli_train_args(synth_dir, out, "Bald,Male", 4, "--ema", "0.99"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "setting.txt").read_text())["ema"] == 0.99
    result = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--max-steps", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    raw = torch.load(out / "checkpoint" / "weights.8.pth", weights_only=True)
    assert raw["ema"] == {"decay": 0.99, "updates": 4}  # n_d 1: 4 G updates in 8 iterations, all averaged
    result = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--enc-dim", "16"])
    assert result.exit_code == 2 and "enc_dim" in result.output


KILL_DURING_SAVE = r"""
import os, signal, sys
import torch
import attgan_batch.training.checkpoints as ck

real_save = torch.save
calls = []

def dying_save(obj, f, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # saves come at steps 2, 4, 6: the second is weights.4.pth (into its temp file)
        f.write(b"PK\x03\x04 half a checkpoint")  # part of the file is on disk ...
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)       # ... when the process dies
    return real_save(obj, f, *args, **kwargs)

ck.torch.save = dying_save
from attgan_batch.cli import main
sys.argv = ["attgan-batch", *sys.argv[1:]]
main()
"""


def test_kill_during_checkpoint_write_keeps_previous_and_resume_works(tmp_path, synth_dir):
    """SIGKILL while weights.4.pth is being written: weights.2.pth stays loadable, --resume goes on."""
    import signal
    import subprocess
    import sys

    from attgan_batch.model import load_checkpoint

    out = tmp_path / "killed"
    args = ["train", "--data", str(synth_dir), "--out", str(out), "--attrs", "Bald,Male", "--img-size", "32",
            "--enc-dim", "8", "--dec-dim", "8", "--dis-dim", "8", "--dis-fc-dim", "16", "--enc-layers", "3",
            "--dec-layers", "3", "--dis-layers", "3", "--batch-size", "4", "--n_d", "1", "--max-steps", "6",
            "--save-interval", "2", "--no-progress"]
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    ckpt_dir = out / "checkpoint"
    assert checkpoints.latest_checkpoint(ckpt_dir).name == "weights.2.pth"
    assert not (ckpt_dir / "weights.4.pth").exists()  # the half-written file never took the real name
    assert load_checkpoint(ckpt_dir / "weights.2.pth").settings.attrs == ["Bald", "Male"]
    from attgan_batch.cli import main

    result = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--max-steps", "6", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert checkpoints.latest_checkpoint(ckpt_dir).name == "weights.6.pth"
