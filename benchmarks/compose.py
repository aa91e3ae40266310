"""``--compose replace`` vs ``--compose residual`` against the truth, on high-resolution photos.

Synthetic faces drawn at 256 px (their true single-attribute edits, the counterfactuals, drawn too)
are edited by the 64 px demo model the way ``--align`` edits a real photo: the face goes to the
model at its resolution, and the result comes back up to the photo's. ``replace`` upsamples the
generator's image; ``residual`` adds the upsampled change ``G(x, b) - G(x, a)`` to the full-resolution
input. Each is scored with PSNR and SSIM against the true counterfactual at 256 px, beside the
unedited input (doing nothing) as the baseline. Also at the model's own 64 px.

    python benchmarks/compose.py --n 60 --seed 4242
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attgan_batch.data.attr_file import read_attr_file  # noqa: E402
from attgan_batch.data.synth import generate_dataset, read_counterfactual_index  # noqa: E402
from attgan_batch.editor import Editor  # noqa: E402
from attgan_batch.evaluation.metrics import psnr, ssim  # noqa: E402


def to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True,
                                           align_corners=False)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="faces drawn (the test split's share is edited)")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    editor = Editor.from_checkpoint(None, device="cpu")
    small = editor.img_size
    scores: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_dataset(Path(tmp) / "faces", n=args.n, size=args.size, seed=args.seed, counterfactuals=True)
        rows = read_counterfactual_index(root)
        attr_table = read_attr_file(root / "list_attr_celeba.txt")
        table = {name: [int(v) for v in row] for name, row in zip(attr_table.files, attr_table.columns(editor.attrs))}
        for r in rows:
            x_big = to_tensor(Image.open(root / r["original"]))
            truth_big = to_tensor(Image.open(root / r["path"]))
            source = table[Path(r["original"]).name]
            recon_plan = editor.plans(edit=None, source=source)[0]
            edit_plan = editor.plans(edit=f"{r['attribute']}=flip", source=source)[0]  # as run edits it
            x = resize(x_big, small)
            a = torch.tensor([recon_plan.scaled, edit_plan.scaled], dtype=torch.float32)
            recon, edited = editor.generate(torch.stack([x, x]), a)
            truth_small = resize(truth_big, small)
            candidates = {
                ("64px", "input"): (x, truth_small), ("64px", "replace"): (edited, truth_small),
                ("64px", "residual"): ((x + edited - recon).clamp(-1, 1), truth_small),
                (f"{args.size}px", "input"): (x_big, truth_big),
                (f"{args.size}px", "replace"): (resize(edited, args.size).clamp(-1, 1), truth_big),
                (f"{args.size}px", "residual"): ((x_big + resize(edited - recon, args.size)).clamp(-1, 1), truth_big),
            }
            for key, (got, want) in candidates.items():
                s = scores.setdefault(f"{key[0]} {key[1]}", {"psnr": [], "ssim": []})
                s["psnr"].append(float(psnr(got[None], want[None])[0]))
                s["ssim"].append(float(ssim(got[None], want[None])[0]))
    print(f"{len(rows)} true edits of {args.n} synthetic faces (test split), demo model ({small} px), seed {args.seed}")
    for name, s in scores.items():
        print(f"  {name:16s} PSNR {np.mean(s['psnr']):6.2f} dB   SSIM {np.mean(s['ssim']):.4f}   vs the true edit")


if __name__ == "__main__":
    main()
