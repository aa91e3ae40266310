"""How well ``--source-from recon`` infers source attributes with the generator alone.

Draws synthetic faces the demo model never saw (their 13 attributes are known exactly), infers each
face's source by reconstruction search, and prints the agreement with the true labels, per attribute
and overall, beside the majority-class baseline.

With ``--judge clf.pt --data synth64`` (an independent classifier from ``train-classifier`` and the
synthetic set the demo model's figures use) it also measures what matters, editing accuracy as
``eval`` does it on that set's test split: every attribute set to its true label flipped, judged by
the classifier, once from the true sources and once from recon-inferred ones.

    python benchmarks/recon_source.py --n 300 --seed 90210
    python benchmarks/recon_source.py --n 0 --judge clf.pt --data synth64 --limit 200
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attgan_batch.data.synth import generate_dataset  # noqa: E402
from attgan_batch.editor import Editor  # noqa: E402
from attgan_batch.recon_source import ReconSource  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=90210, help="not the demo model's training seed")
    parser.add_argument("--judge", type=Path, default=None, help="classifier from train-classifier")
    parser.add_argument("--data", type=Path, default=None, help="synthetic set whose test split is evaluated")
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    editor = Editor.from_checkpoint(None, device="cpu")
    if args.judge is not None:
        editing_accuracy(editor, args)
    if args.n <= 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = generate_dataset(Path(tmp) / "faces", n=args.n, size=editor.img_size, seed=args.seed)
        from attgan_batch.data.celeba import CelebAFormatDataset

        data = CelebAFormatDataset(folder, editor.attrs, split="all", img_size=editor.img_size, crop="none")
        xs = torch.stack([data[i][0] for i in range(len(data))])
        truth = torch.stack([data[i][1] for i in range(len(data))]).long()
    recon = ReconSource(editor)
    predicted = torch.cat([torch.tensor([p.labels for p in recon.predict(xs[i:i + 32])])
                           for i in range(0, len(xs), 32)])
    agree = (predicted == truth).float()
    majority = torch.maximum(truth.float().mean(0), 1 - truth.float().mean(0))
    print(f"{len(xs)} unseen synthetic faces, demo model, seed {args.seed}")
    for j, name in enumerate(editor.attrs):
        print(f"  {name:20s} agreement {agree[:, j].mean():.3f}   majority {majority[j]:.3f}")
    print(f"mean agreement {agree.mean():.3f} (majority baseline {majority.mean():.3f})")



def editing_accuracy(editor: Editor, args) -> None:
    from attgan_batch.defaults import default_checkpoint
    from attgan_batch.evaluation.evaluate import evaluate

    recon = ReconSource(editor)

    def inferred(x: torch.Tensor) -> list[list[int]]:
        return [p.labels for p in recon.predict(x.cpu())]

    reports = {name: evaluate(default_checkpoint(None), args.data, args.judge, "test", args.limit,
                              sources_from=fn)
               for name, fn in (("true sources", None), ("recon sources", inferred))}
    for name, report in reports.items():
        s = report["summary"]
        print(f"{name:14s} editing accuracy {s['edit_accuracy']:.3f}  (test split, {report['n_images']} faces)")
    ratio = reports["recon sources"]["summary"]["edit_accuracy"] / reports["true sources"]["summary"]["edit_accuracy"]
    print(f"recon / true: {ratio:.3f} (a default for G-only checkpoints would need >= 0.95)")


if __name__ == "__main__":
    main()
