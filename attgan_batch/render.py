"""Compose labelled contact sheets (input, reconstruction, each edit), like the reference figure."""
from __future__ import annotations

import re
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .data.images import to_uint8

LABEL_LINE = 12  # pixels per caption line (Pillow's default bitmap font: ~6 px per character)
CHAR_WIDTH = 6
STYLE_SWEEP_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)  # the codes one line of a style sweep shows


def wrap_caption(caption: str, width: int) -> list[str]:
    """``caption`` in lines of at most ``width`` characters, broken after ``_`` / ``;`` / ``=``
    where possible: labels are never cut short (``Bushy_Eyebrows`` on a 64 px tile is two lines)."""
    width = max(width, 1)
    lines, line = [], ""
    for piece in re.findall(r"[^_;= ]*[_;= ]?", caption):
        while len(piece) > width:  # a word longer than a line: hard breaks
            if line:
                lines.append(line)
                line = ""
            lines.append(piece[:width])
            piece = piece[width:]
        if len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    if line or not lines:
        lines.append(line)
    return [ln.rstrip(" ") for ln in lines]


def grid_image(source: torch.Tensor, outputs: torch.Tensor, labels: Sequence[str]) -> Image.Image:
    """One row: the input, then each output, each tile captioned with its whole label."""
    tiles = [to_uint8(source)] + [to_uint8(y) for y in outputs]
    size = tiles[0].shape[0]
    captions = [wrap_caption(c, (size - 2) // CHAR_WIDTH) for c in ["input", *labels]]
    label_height = LABEL_LINE * max(len(c) for c in captions) + 2
    sheet = Image.new("RGB", (size * len(tiles), size + label_height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (tile, lines) in enumerate(zip(tiles, captions)):
        sheet.paste(Image.fromarray(tile), (i * size, label_height))
        for k, text in enumerate(lines):
            draw.text((i * size + 2, 1 + k * LABEL_LINE), text, fill=(0, 0, 0), font=font)
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
