"""Make docs/images/demo_old_vs_new.png: the 12 demo faces, an older demo model's edits, the bundled one's.

    git archive COMMIT attgan_batch/assets/demo | tar -x -C /tmp/old    # an older demo model
    python docs/images/demo_old_vs_new.py --old /tmp/old/attgan_batch/assets/demo [--scale 2]

Runs every row of manifests/demo.csv through the Python API (what `attgan-batch run manifests/demo.csv`
does) with both models, each at its own test_int. Columns are the 12 rows; lines are the input, the
old model's output and the bundled model's output. Row face10 is a `flip-each` grid in `run`; here
it shows one of its flips (--flip-each-shows, default Pale_Skin), and face12 (no edit) is the
reconstruction.
"""
from __future__ import annotations

import argparse
import csv
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from attgan_batch import Editor

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the older demo model's folder (setting.txt + checkpoint/)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--flip-each-shows", default="Pale_Skin")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("demo_old_vs_new.png"))
    args = parser.parse_args()
    manifest = ROOT / "manifests" / "demo.csv"
    rows = list(csv.DictReader(open(manifest)))
    edits = [f"{args.flip_each_shows}=flip" if r["edit"] == "flip-each" else (r["edit"] or None) for r in rows]
    captions = [textwrap.wrap((e or "recon").replace("=flip", " flip"), 21)[:2] for e in edits]
    images = [manifest.parent / r["image"] for r in rows]
    sources = [r["source"] for r in rows]
    old, new = Editor.from_checkpoint(args.old, device="cpu"), Editor.from_checkpoint(None, device="cpu")
    lines = [("input", None), (f"old (test_int {old.checkpoint.settings.test_int:g})", old.edit(images, edits, sources)),
             (f"new (test_int {new.checkpoint.settings.test_int:g})", new.edit(images, edits, sources))]
    size, label, caption = new.img_size * args.scale, 96, 26
    sheet = Image.new("RGB", (label + size * len(rows), len(lines) * size + caption), (255, 255, 255))
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for j, (name, outputs) in enumerate(lines):
        draw.text((3, j * size + size // 2 - 6), name, fill=(0, 0, 0), font=font)
        for i, path in enumerate(images):
            if outputs is None:
                x = new.load(path)
                img = Image.fromarray(((x.permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).byte().numpy())
            else:
                img = outputs[i]
            sheet.paste(img.resize((size, size), Image.NEAREST), (label + i * size, j * size))
    for i, text in enumerate(captions):
        draw.multiline_text((label + i * size + 3, len(lines) * size + 1), "\n".join(text), fill=(0, 0, 0), font=font)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
