"""Make docs/images/before_after.png: grace_hopper.jpg (shipped with matplotlib) edited with --align.

    python docs/images/before_after.py [--checkpoint PATH] [--edit Eyeglasses=flip]

Uses the given checkpoint, else the bundled demo model, else a random untrained model (and says
so in the picture). Needs the dev extra (matplotlib for the photo, OpenCV for --align).
"""
from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from attgan_batch import Editor
from attgan_batch.align import AlignOptions
from attgan_batch.defaults import demo_checkpoint

# What the photo shows, as CelebA would label it; attributes not listed are 0.
GRACE = {"Eyeglasses": 1, "No_Beard": 1, "Gray_Hair": 1}
HEIGHT = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--edit", default="Eyeglasses=flip")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("before_after.png"))
    args = parser.parse_args()

    photo = Path(importlib.util.find_spec("matplotlib").origin).parent / "mpl-data/sample_data/grace_hopper.jpg"
    checkpoint, model_note = args.checkpoint, f"checkpoint {args.checkpoint}"
    if checkpoint is None and demo_checkpoint() is not None:
        checkpoint, model_note = demo_checkpoint(), "the bundled demo model"
    if checkpoint is None:  # no trained model here: a random one shows the geometry only
        import torch

        from attgan_batch.model import AttGANSettings, Generator

        torch.manual_seed(0)
        settings = AttGANSettings(img_size=128, enc_dim=16, dec_dim=16, dis_dim=16)
        checkpoint = Path(tempfile.mkdtemp()) / "random"
        (checkpoint / "checkpoint").mkdir(parents=True)
        (checkpoint / "setting.txt").write_text(settings.to_json())
        torch.save({"G": Generator.from_settings(settings).state_dict()}, checkpoint / "checkpoint" / "weights.0.pth")
        model_note = "a RANDOM untrained model (geometry only)"
    editor = Editor.from_checkpoint(checkpoint, device="cpu")
    source = ",".join(str(GRACE.get(name, 0)) for name in editor.attrs)
    [after] = editor.edit([photo], [args.edit], sources=[source], align=AlignOptions())
    before = Image.open(photo).convert("RGB")

    width = round(before.width * HEIGHT / before.height)
    caption = 18
    sheet = Image.new("RGB", (2 * width + 8, HEIGHT + 2 * caption), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (image, label) in enumerate(((before, "before"), (after, f"after: {args.edit} (--align)"))):
        sheet.paste(image.resize((width, HEIGHT), Image.Resampling.LANCZOS), (i * (width + 8), caption))
        draw.text((i * (width + 8) + 4, 3), label, fill="black", font=font)
    draw.text((4, HEIGHT + caption + 3), f"model: {model_note}", fill="black", font=font)
    sheet = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB) with {model_note}")


if __name__ == "__main__":
    main()
