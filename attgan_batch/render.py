"""Compose labelled contact sheets (input, reconstruction, each edit), like the reference figure."""
from __future__ import annotations

from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .data.images import to_uint8

LABEL_HEIGHT = 14
STYLE_SWEEP_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)  # the codes one line of a style sweep shows


def grid_image(source: torch.Tensor, outputs: torch.Tensor, labels: Sequence[str]) -> Image.Image:
    """One row: the input, then each output, each tile captioned with its label."""
    tiles = [to_uint8(source)] + [to_uint8(y) for y in outputs]
    captions = ["input", *labels]
    size = tiles[0].shape[0]
    sheet = Image.new("RGB", (size * len(tiles), size + LABEL_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (tile, caption) in enumerate(zip(tiles, captions)):
        sheet.paste(Image.fromarray(tile), (i * size, LABEL_HEIGHT))
        text = caption if len(caption) * 6 <= size else caption[: max(size // 6 - 1, 1)] + "…"
        draw.text((i * size + 2, 1), text, fill=(0, 0, 0), font=font)
    return sheet


def stack_vertically(images: list[Image.Image]) -> Image.Image:
    """Images one under another (left-aligned, white behind narrower ones)."""
    if len(images) == 1:
        return images[0]
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), (255, 255, 255))
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height
    return sheet
