"""Score a generator on a CelebA-format test split with an independent attribute classifier.

For every test image and every single-attribute flip (the reference's test-time semantics: flip,
conflict rules, ``(b*2-1)*thres_int``, the edited attribute at ±test_int) this measures:

* editing accuracy: does the classifier see the edited attribute at its new value;
* preservation error: the fraction of attributes meant to stay whose prediction changed from the
  prediction on the input (attributes changed by the conflict rules are meant to change);
* reconstruction PSNR/SSIM of ``G(x, a)`` against ``x``;
* with a synthetic set's ``counterfactuals/``: PSNR/SSIM of each edit against the true edited face
  (and, as a floor, of the unedited input against it);
* the classifier's own accuracy on the real test images and on the counterfactuals: the ceiling
  that editing accuracy can reach.
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from ..attributes import AttributeEdit, EditSpec, plan_edit
from ..data.celeba import CelebAFormatDataset
from ..data.images import load_rgb, preprocess
from ..model import load_checkpoint
from ..residual import residual
from ..training.classifier import LoadedClassifier, load_classifier
from .metrics import edit_hits, preservation_errors, psnr, ssim


@dataclass
class _Counterfactual:
    path: Path
    labels: dict[str, int]


def read_counterfactuals(root: Path) -> dict[tuple[str, str], _Counterfactual]:
    """``(image filename, attribute) -> counterfactual`` from ``counterfactuals/index.csv``, if any."""
    index = root / "counterfactuals" / "index.csv"
    if not index.is_file():
        return {}
    from ..data.synth import read_counterfactual_index

    return {(Path(r["original"]).name, r["attribute"]): _Counterfactual(root / r["path"], r["labels"])
            for r in read_counterfactual_index(root)}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


class _Tally:
    """Per-attribute lists of per-image values, averaged at the end."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    def add(self, attr: str, key: str, values: torch.Tensor | list[float]) -> None:
        self.values[attr][key].extend(float(v) for v in (values.tolist() if torch.is_tensor(values) else values))

    def mean(self, attr: str, key: str) -> float | None:
        return _mean(self.values[attr][key])

    def pooled(self, key: str) -> float | None:
        return _mean([v for per in self.values.values() for v in per[key]])


@torch.no_grad()
def evaluate(
    checkpoint: str | Path, data: str | Path, classifier: str | Path | LoadedClassifier, split: str = "test",
    limit: int | None = None, batch_size: int = 32, crop: str = "auto", test_int: float | None = None,
    rules: str = "reference", device: str = "cpu", progress: Callable[[int], None] | None = None,
    sources_from: Callable[[torch.Tensor], list[list[int]]] | None = None, compose: str = "replace",
) -> dict[str, Any]:
    """Run the evaluation and return the report dict (what ``eval --out`` writes as JSON).

    ``sources_from``: infer each image's source attributes (e.g. ``--source-from recon``) instead of
    using its true labels; every edit still asks for the true label flipped, so the score says how
    well edits come out when the source had to be guessed.

    ``compose``: ``"replace"`` judges the generator's image ``G(x, b)``, as ``run`` writes by default;
    ``"residual"`` judges ``x + G(x, b) - G(x, a)``, as ``run --compose residual`` writes (the
    reconstruction error cancels, see :mod:`attgan_batch.residual`)."""
    if compose not in ("replace", "residual"):
        raise ValueError(f"compose must be replace or residual, not {compose!r}")
    start = time.perf_counter()
    loaded = load_checkpoint(checkpoint)
    s = loaded.settings
    names = list(s.attrs)
    g = loaded.generator.to(device)
    clf = classifier if isinstance(classifier, LoadedClassifier) else load_classifier(classifier)
    clf.model.to(device)
    clf_col = {n: i for i, n in enumerate(clf.attrs)}
    intensity = s.test_int if test_int is None else test_int
    data = Path(data)
    dataset = CelebAFormatDataset(data, names, split, s.img_size, crop=crop, limit=limit)
    if len(dataset) == 0:
        raise ValueError(f"{data} has no {split} images to evaluate")
    cfs = read_counterfactuals(data)

    tally = _Tally()
    recon_psnr: list[float] = []
    recon_ssim: list[float] = []
    real_hits: dict[str, list[float]] = defaultdict(list)
    cf_hits: dict[str, list[float]] = defaultdict(list)
    cf_all_hits: list[float] = []
    done = 0
    for x, labels in DataLoader(dataset, batch_size=batch_size):
        files = dataset.files[done:done + len(x)]
        x = x.to(device)
        truth = [[int(v) for v in row] for row in labels.tolist()]
        sources = sources_from(x) if sources_from is not None else truth
        zs = g.encode(x)
        pred_x = clf.predict(x)
        for name, c in clf_col.items():
            if name in names:
                real_hits[name] += (pred_x[:, c].cpu() == labels[:, names.index(name)]).float().tolist()

        recon_plans = [plan_edit(a, EditSpec(), names, thres_int=s.thres_int) for a in sources]
        rec = g.decode(zs, torch.tensor([p.scaled for p in recon_plans], device=device))
        recon_psnr += psnr(rec, x).tolist()
        recon_ssim += ssim(rec, x).tolist()

        for i, name in enumerate(names):
            if sources_from is None:
                spec = EditSpec((AttributeEdit(name, "flip"),))
                plans = [plan_edit(a, spec, names, thres_int=s.thres_int, test_int=intensity, rules=rules)
                         for a in sources]
            else:  # the true label flipped, from the guessed source
                plans = [plan_edit(a, EditSpec((AttributeEdit(name, "set", float(1 - t[i])),)), names,
                                   thres_int=s.thres_int, test_int=intensity, rules=rules)
                         for a, t in zip(sources, truth)]
            edited = g.decode(zs, torch.tensor([p.scaled for p in plans], device=device))
            if compose == "residual":
                edited = residual(x, edited, rec)
            target = torch.tensor([p.target for p in plans], dtype=torch.float32)
            source = labels.float()
            pred_y = clf.predict(edited).cpu()
            if name in clf_col:
                tally.add(name, "edit_accuracy", edit_hits(pred_y[:, clf_col[name]], target[:, i]))
            keep = torch.ones(len(x), len(clf.attrs))
            for n, c in clf_col.items():
                if n == name:
                    keep[:, c] = 0
                elif n in names:
                    j = names.index(n)
                    keep[:, c] = (target[:, j] == source[:, j]).float()
            tally.add(name, "preservation_error", preservation_errors(pred_y, pred_x.cpu(), keep))
            _score_counterfactuals(tally, name, files, x, edited, cfs, s.img_size, crop)

        done += len(x)
        if progress:
            progress(len(x))

    evaluated = set(dataset.files)
    for (file, attr), cf in cfs.items():  # the classifier's ceiling on the true edits of these faces
        if attr not in clf_col or file not in evaluated:
            continue
        img = preprocess(load_rgb(cf.path), clf.img_size, crop).unsqueeze(0).to(device)
        pred = clf.predict(img)[0].cpu()
        cf_hits[attr].append(float(pred[clf_col[attr]] == cf.labels.get(attr, -1)))
        cf_all_hits += [float(pred[c] == cf.labels[n]) for n, c in clf_col.items() if n in cf.labels]

    per_attr = {}
    for name in names:
        per_attr[name] = {
            "edit_accuracy": tally.mean(name, "edit_accuracy"),
            "preservation_error": tally.mean(name, "preservation_error"),
            "classifier_accuracy_real": _mean(real_hits.get(name, [])),
            "classifier_accuracy_counterfactual": _mean(cf_hits.get(name, [])),
            "counterfactual_psnr": tally.mean(name, "cf_psnr"),
            "counterfactual_ssim": tally.mean(name, "cf_ssim"),
            "input_vs_counterfactual_psnr": tally.mean(name, "input_cf_psnr"),
            "input_vs_counterfactual_ssim": tally.mean(name, "input_cf_ssim"),
        }
    summary = {
        "edit_accuracy": _mean([v["edit_accuracy"] for v in per_attr.values() if v["edit_accuracy"] is not None]),
        "preservation_error": tally.pooled("preservation_error"),
        "reconstruction_psnr": _mean(recon_psnr),
        "reconstruction_ssim": _mean(recon_ssim),
        "counterfactual_psnr": tally.pooled("cf_psnr"),
        "counterfactual_ssim": tally.pooled("cf_ssim"),
        "input_vs_counterfactual_psnr": tally.pooled("input_cf_psnr"),
        "input_vs_counterfactual_ssim": tally.pooled("input_cf_ssim"),
        "classifier_accuracy_real": _mean([v for vs in real_hits.values() for v in vs]),
        "classifier_accuracy_counterfactual": _mean(cf_all_hits),
    }
    return _finite({
        "checkpoint": str(loaded.weights_path), "checkpoint_sha256": loaded.sha256, "data": str(data),
        "classifier": str(classifier) if not isinstance(classifier, LoadedClassifier) else None,
        "split": split, "n_images": len(dataset), "attrs": names, "classifier_attrs": clf.attrs,
        "img_size": s.img_size, "thres_int": s.thres_int, "test_int": intensity, "rules": rules, "compose": compose,
        "counterfactuals": len(cfs), "seconds": time.perf_counter() - start,
        "summary": summary, "per_attribute": per_attr,
    })


def _score_counterfactuals(tally: _Tally, name: str, files: list[str], x: torch.Tensor, edited: torch.Tensor,
                           cfs: dict, img_size: int, crop: str) -> None:
    rows = [k for k, f in enumerate(files) if (f, name) in cfs]
    if not rows:
        return
    truth = torch.stack([preprocess(load_rgb(cfs[(files[k], name)].path), img_size, crop) for k in rows]).to(x.device)
    tally.add(name, "cf_psnr", psnr(edited[rows], truth))
    tally.add(name, "cf_ssim", ssim(edited[rows], truth))
    tally.add(name, "input_cf_psnr", psnr(x[rows], truth))
    tally.add(name, "input_cf_ssim", ssim(x[rows], truth))


def _finite(obj: Any) -> Any:
    """JSON has no inf/NaN: write them as null (PSNR of identical images is +inf)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
