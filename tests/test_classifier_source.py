"""--classifier: a standalone attribute classifier predicts missing sources, matched by name."""
from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from attgan_batch.cli import main
from attgan_batch.model.config import DEFAULT_ATTRS
from attgan_batch.training.classifier import AttributeClassifier, save_classifier
from conftest import SOURCE_13, write_image


def _classifier(path, attrs, img_size=16, bias=None):
    torch.manual_seed(0)
    model = AttributeClassifier(len(attrs), img_size, width=4)
    if bias is not None:  # make the verdict known: logits dominated by the bias
        with torch.no_grad():
            model.head[-1].weight.zero_()
            model.head[-1].bias.copy_(torch.tensor(bias))
    return save_classifier(path, model, attrs, val_accuracy={a: 0.9 for a in attrs})


def test_classifier_predicts_sources_by_attribute_name(tmp_path, tiny_checkpoint):
    # reversed order plus an attribute the model lacks: matching must go by name
    attrs = list(reversed(DEFAULT_ATTRS)) + ["Smiling"]
    bias = [4.0 if a in ("Male", "Young", "Smiling") else -4.0 for a in attrs]
    clf = _classifier(tmp_path / "clf.pt", attrs, bias=bias)
    write_image(tmp_path / "a.png", size=(50, 50))
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,image,source,edit\nguess,a.png,,Bald=1\ngiven,a.png,\"" + SOURCE_13 + "\",Bald=1\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", str(tiny_checkpoint),
                                       "--backend", "torch", "-q", "--classifier", str(clf)])
    assert result.exit_code == 0, result.output
    with open(out / "report.csv", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    predicted = dict(item.split("=") for item in rows["guess"]["source_predicted"].split(";"))
    assert list(predicted) == DEFAULT_ATTRS  # the model's order, not the classifier's
    assert predicted["Male"] == "1:0.98" and predicted["Young"] == "1:0.98" and predicted["Bald"] == "0:0.98"
    expected = ",".join("1" if a in ("Male", "Young") else "0" for a in DEFAULT_ATTRS)
    assert rows["guess"]["source"] == expected
    assert rows["given"]["source_predicted"] == ""  # a given source is never overridden
    info = json.loads((out / "report.json").read_text())["checkpoint"]["classifier"]
    assert info["path"] == str(clf) and len(info["sha256"]) == 64 and info["val_accuracy"]["Male"] == 0.9


def test_classifier_missing_an_attribute_is_a_setup_error(tmp_path, tiny_checkpoint):
    clf = _classifier(tmp_path / "clf.pt", [a for a in DEFAULT_ATTRS if a != "Eyeglasses"] + ["Eyeglases"])
    write_image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,image,edit\nx,a.png,Male=1\n")
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(tmp_path / "out"), "-c",
                                       str(tiny_checkpoint), "--backend", "torch", "-q", "--classifier", str(clf)])
    assert result.exit_code == 2
    assert "does not predict Eyeglasses (closest: Eyeglases)" in result.output


def test_python_api_uses_the_classifier(tmp_path, tiny_checkpoint):
    from attgan_batch import Editor
    from attgan_batch.classifier_source import ClassifierSource

    clf = _classifier(tmp_path / "clf.pt", DEFAULT_ATTRS, bias=[-4.0] * 13)
    editor = Editor.from_checkpoint(tiny_checkpoint, device="cpu")
    editor.source_classifier = ClassifierSource.load(clf, editor.attrs)
    [prediction] = editor.predict_source(torch.zeros(1, 3, 32, 32))  # resized to the classifier's 16 px
    assert prediction.labels == [0] * 13 and min(prediction.confidences) > 0.95
    [out] = editor.edit([write_image(tmp_path / "a.png")], ["Male=1"])  # no source: predicted
    assert out.size == (32, 32)


def test_unreadable_classifier_file_is_a_setup_error(tmp_path, tiny_checkpoint):
    from attgan_batch.classifier_source import ClassifierSource
    from attgan_batch.errors import AttGANBatchError

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AttGANBatchError, match="--classifier"):
        ClassifierSource.load(bad, DEFAULT_ATTRS)
