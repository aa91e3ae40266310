"""Style controllers: settings, shapes, the Q loss, training, save/load, fine-tuning into style."""
from __future__ import annotations

import importlib.util

import json

import pytest
import torch
from click.testing import CliRunner

from attgan_batch.cli import main
from attgan_batch.model import AttGANSettings, Discriminator, Generator, load_checkpoint
from attgan_batch.model.config import parse_style_spec
from attgan_batch.training import Trainer, train
from attgan_batch.training.metrics import read_metrics
from attgan_batch.training.style import sample_style, style_loss
from test_train import (ATTRS, config, one_thread, synth_dir, tensors, tiny_cli_train_args,  # noqa: F401 (fixtures)
                        tiny_settings)


def test_style_spec_parsing_and_errors():
    assert parse_style_spec("Eyeglasses:2, Male", ATTRS) == {"Eyeglasses": 2, "Male": 1}
    with pytest.raises(ValueError, match="not one of the model's attributes"):
        parse_style_spec("Glasses:2", ATTRS)
    with pytest.raises(ValueError, match="integer"):
        parse_style_spec("Eyeglasses:two", ATTRS)


def test_plain_settings_keep_the_reference_layout_and_style_round_trips():
    plain = tiny_settings().to_dict()
    assert "style" not in plain and "lambda_style" not in plain and "lambda_style_l1" not in plain
    styled = tiny_settings(style={"Eyeglasses": 2}, lambda_style=3.0)
    again = AttGANSettings.from_dict(json.loads(styled.to_json()))
    assert again.style == {"Eyeglasses": 2} and again.lambda_style == 3.0 and again.n_cond == len(ATTRS) + 2
    assert again.cond_names()[-2:] == ["Eyeglasses#style0", "Eyeglasses#style1"]


def test_style_shapes_and_neutral_default():
    s = tiny_settings(style={"Eyeglasses": 2}, inject_layers=1)
    G, D = Generator.from_settings(s).eval(), Discriminator.from_settings(s)
    plain = Generator.from_settings(tiny_settings(inject_layers=1))
    assert set(G.state_dict()) == set(plain.state_dict())  # same layer names, two more input channels
    assert G.state_dict()["dec_layers.0.layers.0.weight"].shape[0] == \
        plain.state_dict()["dec_layers.0.layers.0.weight"].shape[0] + 2
    x, a = torch.rand(3, 3, 32, 32) * 2 - 1, torch.zeros(3, len(ATTRS))
    assert torch.equal(G(x, a), G(x, a, torch.zeros(3, 2)))  # no style given = neutral codes
    assert not torch.allclose(G(x, a, torch.ones(3, 2)), G(x, a))
    adv, cls, q = D.heads(x)
    assert adv.shape == (3, 1) and cls.shape == (3, len(ATTRS)) and q.shape == (3, 2)
    assert "fc_style.1.layers.0.weight" in D.state_dict()
    assert not any(k.startswith("fc_style") for k in Discriminator.from_settings(tiny_settings()).state_dict())
    with pytest.raises(ValueError, match="no style controllers"):
        plain(x, a, torch.ones(3, 2))


def test_style_sampling_mask_and_loss():
    s = tiny_settings(style={"Eyeglasses": 2, "Male": 1})
    att_b = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 1, 0]], dtype=torch.float)
    theta, mask = sample_style(att_b, s)
    assert theta.shape == (3, 3) and theta.abs().max() <= 1
    assert mask.tolist() == [[1, 1, 0], [0, 0, 1], [1, 1, 1]]  # codes count only where their attribute is on
    assert style_loss(theta, theta, mask) == 0
    off = theta + 0.5 * (1 - mask)  # errors where the attribute is off do not count
    assert style_loss(off, theta, mask) == 0
    assert torch.isclose(style_loss(theta + 0.5, theta, mask), torch.tensor(0.25))


def test_tiny_style_model_trains_saves_and_loads(tmp_path, tensors):
    s = tiny_settings(style={"Eyeglasses": 1}, lambda_style=2.0, lambda_style_l1=0.5, n_d=1, save_interval=6)
    result = train(config(tmp_path / "run", settings=s, max_steps=12), train_set=tensors)
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "dq_loss" in r or "gq_loss" in r]
    dq = [r["dq_loss"] for r in rows if "dq_loss" in r]
    gq = [r["gq_loss"] for r in rows if "gq_loss" in r]
    l1 = [r["gs_l1"] for r in rows if "gs_l1" in r]
    assert dq and gq and l1 and all(torch.isfinite(torch.tensor(dq + gq + l1)))
    assert all(v > 0 for v in l1)  # styled and neutral edits differ: the locality term is live
    setting = json.loads((tmp_path / "run" / "setting.txt").read_text())
    assert setting["style"] == {"Eyeglasses": 1} and setting["lambda_style"] == 2.0
    assert setting["lambda_style_l1"] == 0.5
    loaded = load_checkpoint(result.checkpoint, with_discriminator=True)
    assert loaded.settings.style == {"Eyeglasses": 1} and loaded.generator.n_style == 1
    assert loaded.discriminator.n_style == 1
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loaded.generator(x, torch.zeros(2, len(ATTRS)), torch.ones(2, 1)).shape == (2, 3, 32, 32)


def test_q_loss_drops_when_q_trains_on_a_fixed_generator(tensors):
    """The D-side MI term is learnable: Q reads theta off G's output once it has trained a little."""
    torch.manual_seed(0)
    s = tiny_settings(style={"Eyeglasses": 1})
    G, D = Generator.from_settings(s), Discriminator.from_settings(s)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    x = tensors.tensors[0][:16]
    att_b = torch.zeros(16, len(ATTRS))
    att_b[:, ATTRS.index("Eyeglasses")] = 1
    losses = []
    for _ in range(60):
        theta, mask = sample_style(att_b, s)
        with torch.no_grad():
            fake = G(x, (att_b * 2 - 1) * 0.5, theta)
        loss = style_loss(D.heads(fake)[2], theta, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


def test_finetune_plain_model_into_style_model(tmp_path, tensors):
    plain = train(config(tmp_path / "plain", settings=tiny_settings(n_d=1), max_steps=2), train_set=tensors)
    s = tiny_settings(style={"Eyeglasses": 1}, n_d=1)
    lines = []
    trainer = Trainer(config(tmp_path / "styled", settings=s, max_steps=2, finetune=plain.checkpoint),
                      train_set=tensors, log=lines.append)
    text = "\n".join(lines)
    assert "remapped by attribute name" in text and "Eyeglasses#style0" in text and "fc_style" in text
    src = torch.load(plain.checkpoint, weights_only=True)["G"]["dec_layers.0.layers.0.weight"]
    dst = trainer.G.state_dict()["dec_layers.0.layers.0.weight"]
    assert torch.equal(dst[:src.shape[0]], src)  # every feature and attribute channel kept, style channel new
    trainer.fit()


def test_cli_train_style_option(tmp_path, synth_dir):
    out = tmp_path / "cli"
    args = tiny_cli_train_args(synth_dir, out, "Eyeglasses,Male", 2, "--style", "Eyeglasses:2", "--lambda-style", "0.5")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    setting = json.loads((out / "setting.txt").read_text())
    assert setting["style"] == {"Eyeglasses": 2} and setting["lambda_style"] == 0.5
    bad = CliRunner().invoke(main, args[:-4] + ["--style", "Bangs:1"])
    assert bad.exit_code == 2 and "not one of the model's attributes" in bad.output


# ---------------------------------------------------------------------------------------------- inference

import csv  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from conftest import SOURCE_13, write_checkpoint, write_image  # noqa: E402


def _style_manifest(folder: Path, rows: list[dict]) -> Path:
    write_image(folder / "a.png", size=(48, 48))
    path = folder / "m.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "image", "source", "edit", "style"])
        writer.writeheader()
        for row in rows:
            writer.writerow({"image": "a.png", "source": SOURCE_13, "edit": "Eyeglasses=1", **row})
    return path


def _report(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


@pytest.fixture
def style_checkpoint(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "styled", style={"Eyeglasses": 2}, inject_layers=1)


def test_manifest_style_column_drives_the_generator_and_is_reported(tmp_path, style_checkpoint):
    manifest = _style_manifest(tmp_path, [
        {"id": "neutral", "style": ""}, {"id": "zero", "style": "Eyeglasses=0,0"},
        {"id": "a", "style": "Eyeglasses=1,-1"}, {"id": "b", "style": "Eyeglasses=-1,1"},
        {"id": "unstyled", "style": "Male=1"}, {"id": "count", "style": "Eyeglasses=0.5"},
        {"id": "typo", "style": "Eyeglases=1,1"},
    ])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(style_checkpoint),
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 1, result.output  # some rows failed
    report = _report(out)
    assert {k for k, r in report.items() if r["status"] == "ok"} == {"neutral", "zero", "a", "b"}
    assert "no style controllers for Male" in report["unstyled"]["error"]
    assert "takes 2 code(s), got 1" in report["count"]["error"]
    assert "did you mean 'Eyeglasses'" in report["typo"]["error"]
    assert report["a"]["style"] == "Eyeglasses=1,-1" and report["neutral"]["style"] == "Eyeglasses=0,0"
    pixels = {k: Image.open(out / f"{k}.png").tobytes() for k in ("neutral", "zero", "a", "b")}
    assert pixels["neutral"] == pixels["zero"] and len({pixels["neutral"], pixels["a"], pixels["b"]}) == 3


def test_plain_model_fails_style_rows_only(tmp_path, tiny_checkpoint):
    manifest = _style_manifest(tmp_path, [{"id": "plain", "style": ""}, {"id": "styled", "style": "Eyeglasses=1"}])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 1
    report = _report(out)
    assert report["plain"]["status"] == "ok"
    assert "trained without --style" in report["styled"]["error"]


def test_style_sweep_adds_a_line_per_code_to_the_grid(tmp_path, style_checkpoint):
    manifest = _style_manifest(tmp_path, [{"id": "r", "style": "", "edit": "Male=0"}])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(style_checkpoint),
                                       "--backend", "torch", "-q", "--style-sweep", "Eyeglasses"])
    assert result.exit_code == 0, result.output
    sheet = Image.open(out / "r.grid.png")
    size = 32
    width, height = sheet.size
    assert width == size * 6 and height > 3 * size  # edit line (input, recon, edit) + 2 sweep lines of 5, captioned
    line = [sheet.crop((i * size, height - size, (i + 1) * size, height)).tobytes() for i in range(1, 6)]
    assert len(set(line)) == 5  # every swept value draws something different
    bad = CliRunner().invoke(main, ["run", str(manifest), "--out", str(tmp_path / "o2"), "-c", str(style_checkpoint),
                                    "--backend", "torch", "-q", "--style-sweep", "Male"])
    assert bad.exit_code == 2 and "no style controllers for it" in bad.output


def test_editor_api_takes_styles(style_checkpoint, tmp_path):
    from attgan_batch import Editor

    editor = Editor.from_checkpoint(style_checkpoint, device="cpu")
    image = write_image(tmp_path / "face.png", size=(32, 32))
    a, b = editor.edit([image, image], ["Eyeglasses=1"] * 2, sources=[SOURCE_13] * 2,
                       styles=["Eyeglasses=1,1", "Eyeglasses=-1,-1"])
    assert a.tobytes() != b.tobytes()


def test_onnx_export_of_a_style_model_has_a_style_input_and_matches_torch(style_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    from attgan_batch.engines.export import export_onnx
    from attgan_batch.engines.onnx_backend import OnnxRuntimeBackend

    loaded = load_checkpoint(style_checkpoint)
    result = export_onnx(loaded.generator, tmp_path / "g.onnx", img_size=32, n_attrs=13)
    assert result.parity.passed and result.parity.max_abs_diff < 1e-4
    backend = OnnxRuntimeBackend(result.path)
    assert [i.name for i in backend.session.get_inputs()] == ["image", "attributes", "style"]
    x, a, s = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 13) - 0.5, torch.rand(4, 2) * 2 - 1
    with torch.no_grad():
        assert (backend.infer(x, a, s) - loaded.generator(x, a, s)).abs().max() < 1e-4
        assert (backend.infer(x, a) - loaded.generator(x, a)).abs().max() < 1e-4  # neutral by default
    if importlib.util.find_spec("openvino"):  # the same file through OpenVINO, style input included
        from attgan_batch.engines.openvino_backend import OpenVinoBackend

        ov = OpenVinoBackend(result.path, streams=2)
        assert ov.style_width == 2
        with torch.no_grad():
            assert (ov.infer(x, a, s) - loaded.generator(x, a, s)).abs().max() < 1e-4
            assert (ov.infer(x, a) - loaded.generator(x, a)).abs().max() < 1e-4


def test_eval_style_command_reports_correlation_consistency_and_grid(tmp_path, synth_dir, tensors):
    s = tiny_settings(attrs=["Eyeglasses", "Male"], style={"Eyeglasses": 1}, n_d=1)
    run = train(config(tmp_path / "run", settings=s, max_steps=2), train_set=tensors.__class__(
        tensors.tensors[0], tensors.tensors[1][:, :2]))
    out = tmp_path / "style.json"
    result = CliRunner().invoke(main, ["eval-style", "--checkpoint", str(run.checkpoint), "--data", str(synth_dir),
                                       "--attr", "Eyeglasses", "--out", str(out), "--split", "all", "--limit", "12"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["images"] == 12 and len(report["q_correlation"]) == 1
    assert -1 <= report["q_correlation"][0] <= 1
    assert 0 <= report["frame_consistency"][0]["monotonic"] <= 1
    grid = Image.open(out.with_suffix(".png"))
    assert grid.size[0] == 32 * 6 and grid.size[1] > 8 * 32  # 8 captioned faces, input + 5 sweep values
    bad = CliRunner().invoke(main, ["eval-style", "--checkpoint", str(run.checkpoint), "--data", str(synth_dir),
                                    "--attr", "Male", "--out", str(out)])
    assert bad.exit_code == 2 and "no style controllers for Male" in bad.output
