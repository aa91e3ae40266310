"""The independent attribute classifier, the image metrics and the `eval` report."""
from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from attgan_batch.attributes import AttributeEdit, EditSpec, plan_edit
from attgan_batch.cli import main
from attgan_batch.data.celeba import CelebAFormatDataset
from attgan_batch.data.images import load_rgb, preprocess
from attgan_batch.data.synth import SYNTH_ATTRS, generate_dataset
from attgan_batch.evaluation.chart import draw_chart
from attgan_batch.evaluation.evaluate import evaluate, read_counterfactuals, write_report
from attgan_batch.evaluation.metrics import edit_hits, preservation_errors, psnr, ssim
from attgan_batch.model import AttGANSettings, Generator, load_checkpoint
from attgan_batch.training.classifier import AttributeClassifier, load_classifier, train_classifier

SIZE = 32


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a busy shared CPU this is several times faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("data"), 40, SIZE, seed=11, counterfactuals=True, workers=2)


@pytest.fixture(scope="module")
def classifier_file(synth, tmp_path_factory):
    return train_classifier(synth, tmp_path_factory.mktemp("clf") / "clf.pt", epochs=1, batch_size=16,
                            img_size=SIZE, seed=0).path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised small generator in the published format: {'G'} + setting.txt."""
    folder = tmp_path_factory.mktemp("gan")
    torch.manual_seed(0)
    settings = AttGANSettings(img_size=SIZE, enc_dim=8, dec_dim=8, enc_layers=3, dec_layers=3,
                              shortcut_layers=1, inject_layers=1)
    (folder / "checkpoint").mkdir()
    torch.save({"G": Generator.from_settings(settings).state_dict()}, folder / "checkpoint" / "weights.0.pth")
    (folder / "setting.txt").write_text(settings.to_json())
    return folder


# ----------------------------------------------------------------------------- metrics

def test_psnr_known_values():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.isinf(psnr(x, x)).all()
    # a uniform offset of 0.1 in [-1, 1] is 0.05 in [0, 1]: mse 0.0025, PSNR = 10 log10(1/0.0025)
    y = (x * 0.5) + 0.1
    shifted = y + 0.1
    assert torch.allclose(psnr(y, shifted), torch.full((2,), 10 * math.log10(1 / 0.0025)), atol=1e-3)


def test_ssim_properties():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-5)
    light = (x + 0.2 * torch.randn_like(x)).clamp(-1, 1)
    heavy = (x + 0.8 * torch.randn_like(x)).clamp(-1, 1)
    assert (ssim(x, light) < 0.99).all() and (ssim(x, heavy) < ssim(x, light)).all()
    assert torch.allclose(ssim(x, light), ssim(light, x), atol=1e-6)  # symmetric
    # constant images: variances vanish and SSIM is the luminance term (2ab + c1) / (a^2 + b^2 + c1)
    a, b = 0.2, 0.7  # in [0, 1]
    ca, cb = torch.full((1, 3, 16, 16), a * 2 - 1), torch.full((1, 3, 16, 16), b * 2 - 1)
    c1 = 0.01 ** 2
    assert ssim(ca, cb).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-5)


def test_edit_and_preservation_metrics():
    assert edit_hits(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 1.0])).tolist() == [1.0, 0.0, 1.0]
    pred_in = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    pred_out = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    keep = torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0]])  # attribute 0 was edited
    assert preservation_errors(pred_out, pred_in, keep).tolist() == pytest.approx([1 / 3, 0.0])


# ----------------------------------------------------------------------------- classifier

def test_classifier_file_format(classifier_file):
    raw = torch.load(classifier_file, weights_only=True)
    assert set(raw) >= {"classifier", "attrs", "img_size", "arch"}
    assert raw["attrs"] == SYNTH_ATTRS and raw["img_size"] == SIZE
    loaded = load_classifier(classifier_file)
    assert isinstance(loaded.model, AttributeClassifier) and not loaded.model.training
    assert set(loaded.val_accuracy) == set(SYNTH_ATTRS)
    assert all(0.0 <= v <= 1.0 for v in loaded.val_accuracy.values())
    pred = loaded.predict(torch.rand(5, 3, 64, 64) * 2 - 1)  # other sizes are resized to the classifier's
    assert pred.shape == (5, 13) and set(pred.unique().tolist()) <= {0.0, 1.0}


def test_classifier_training_is_seeded(synth, tmp_path):
    a = train_classifier(synth, tmp_path / "a.pt", epochs=1, batch_size=16, img_size=SIZE, seed=4, limit=16)
    b = train_classifier(synth, tmp_path / "b.pt", epochs=1, batch_size=16, img_size=SIZE, seed=4, limit=16)
    sa, sb = torch.load(a.path, weights_only=True), torch.load(b.path, weights_only=True)
    assert all(torch.equal(sa["classifier"][k], sb["classifier"][k]) for k in sa["classifier"])


# ----------------------------------------------------------------------------- evaluation

def test_evaluate_report(checkpoint, synth, classifier_file, tmp_path):
    report = evaluate(checkpoint, synth, classifier_file, split="test", limit=3, batch_size=2)
    assert report["n_images"] == 3 and report["attrs"] == SYNTH_ATTRS
    assert report["counterfactuals"] == 4 * 13  # the set's 4 test faces
    assert report["thres_int"] == 0.5 and report["test_int"] == 1.0
    for name, row in report["per_attribute"].items():
        for key in ("edit_accuracy", "preservation_error", "classifier_accuracy_real",
                    "classifier_accuracy_counterfactual", "counterfactual_ssim", "input_vs_counterfactual_ssim"):
            assert 0.0 <= row[key] <= 1.0, (name, key, row[key])
        assert 0 < row["counterfactual_psnr"] < 60 and row["input_vs_counterfactual_psnr"] > 0
        # 3 images: every accuracy is a multiple of 1/3
        assert round(row["edit_accuracy"] * 3, 6) == round(row["edit_accuracy"] * 3)
    s = report["summary"]
    # a random generator reconstructs poorly; the unedited input is far closer to the true edit
    assert s["reconstruction_psnr"] < s["input_vs_counterfactual_psnr"]
    assert s["counterfactual_psnr"] < s["input_vs_counterfactual_psnr"]
    path = write_report(report, tmp_path / "eval.json")
    assert json.loads(path.read_text())["summary"] == pytest.approx(s)
    chart = draw_chart(report, tmp_path / "eval.png")
    with Image.open(tmp_path / "eval.png") as img:
        assert img.size == chart.size and img.width > 600
        # bars are drawn: the chart is not just white
        assert len(img.convert("RGB").getcolors(1 << 16)) > 10


def test_residual_composition_is_judged_as_run_writes_it(checkpoint, synth, classifier_file):
    """--compose residual scores x + G(x, b) - G(x, a): recomputed here by hand for the first test face."""
    replace = evaluate(checkpoint, synth, classifier_file, split="test", limit=1)
    composed = evaluate(checkpoint, synth, classifier_file, split="test", limit=1, compose="residual")
    assert replace["compose"] == "replace" and composed["compose"] == "residual"
    loaded = load_checkpoint(checkpoint)
    g, names = loaded.generator, SYNTH_ATTRS
    dataset = CelebAFormatDataset(synth, names, "test", SIZE, limit=1)
    x, labels = dataset[0]
    x = x[None]
    source = [int(v) for v in labels.tolist()]
    cfs = read_counterfactuals(synth)
    with torch.no_grad():
        zs = g.encode(x)
        rec = g.decode(zs, torch.tensor([plan_edit(source, EditSpec(), names).scaled]))
        for name in ("Bald", "Eyeglasses", "Young"):
            plan = plan_edit(source, EditSpec((AttributeEdit(name, "flip"),)), names)
            edited = g.decode(zs, torch.tensor([plan.scaled]))
            truth = preprocess(load_rgb(cfs[(dataset.files[0], name)].path), SIZE)[None]
            by_hand = (x + edited - rec).clamp(-1, 1)
            assert composed["per_attribute"][name]["counterfactual_psnr"] == pytest.approx(float(psnr(by_hand, truth)[0]))
            assert replace["per_attribute"][name]["counterfactual_psnr"] == pytest.approx(float(psnr(edited, truth)[0]))
    # the random generator's reconstruction error cancels: residual edits are far closer to the truth
    assert composed["summary"]["counterfactual_psnr"] > replace["summary"]["counterfactual_psnr"] + 3
    with pytest.raises(ValueError, match="replace or residual"):
        evaluate(checkpoint, synth, classifier_file, limit=1, compose="auto")


def test_cli_train_classifier_and_eval(checkpoint, synth, tmp_path):
    runner = CliRunner()
    clf = tmp_path / "clf.pt"
    result = runner.invoke(main, ["train-classifier", "--data", str(synth), "--out", str(clf), "--epochs", "1",
                                  "--img-size", str(SIZE), "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    assert clf.is_file()
    out = tmp_path / "report" / "eval.json"
    result = runner.invoke(main, ["eval", "--checkpoint", str(checkpoint), "--data", str(synth),
                                  "--classifier", str(clf), "--out", str(out), "--limit", "2", "--compose", "residual"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["compose"] == "residual" and "residual composition" in result.output
    assert report["n_images"] == 2 and set(report["per_attribute"]) == set(SYNTH_ATTRS)
    assert (tmp_path / "report" / "eval.png").is_file()
    assert "Mouth_Slightly_Open" in result.output  # the console table


def test_eval_rejects_a_non_classifier_file(checkpoint, synth, tmp_path):
    bogus = tmp_path / "bogus.pt"
    torch.save({"G": {}}, bogus)
    result = CliRunner().invoke(main, ["eval", "--checkpoint", str(checkpoint), "--data", str(synth),
                                       "--classifier", str(bogus), "--out", str(tmp_path / "e.json")])
    assert result.exit_code == 2 and "train-classifier" in result.output
