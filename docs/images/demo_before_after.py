"""Make docs/images/demo_before_after.png: demo faces (top), the bundled model's edits (bottom).

    python docs/images/demo_before_after.py [--rows 8] [--scale 2]

Runs the first single-edit rows of manifests/demo.csv through the Python API with the bundled demo
model (the same thing `attgan-batch run manifests/demo.csv` does) and captions each edit.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from attgan_batch import Editor

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("demo_before_after.png"))
    args = parser.parse_args()
    manifest = ROOT / "manifests" / "demo.csv"
    rows = [r for r in csv.DictReader(open(manifest)) if r["edit"] and r["edit"] != "flip-each"][: args.rows]
    editor = Editor.from_checkpoint(None, device="cpu")
    images = [manifest.parent / r["image"] for r in rows]
    outputs = editor.edit(images, [r["edit"] for r in rows], sources=[r["source"] for r in rows])
    size = editor.img_size * args.scale
    caption = 16
    sheet = Image.new("RGB", (size * len(rows), 2 * size + caption), (255, 255, 255))
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for i, (row, path, out) in enumerate(zip(rows, images, outputs)):
        source = editor.load(path)
        src = Image.fromarray(((source.permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).byte().numpy())
        sheet.paste(src.resize((size, size), Image.NEAREST), (i * size, 0))
        sheet.paste(out.resize((size, size), Image.NEAREST), (i * size, size))
        draw.text((i * size + 3, 2 * size + 2), row["edit"].replace("=flip", " flip")[:21], fill=(0, 0, 0), font=font)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
