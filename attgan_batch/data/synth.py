"""Procedurally drawn faces whose 13 attributes are known exactly, for training and measuring edits.

Each attribute is drawn as a large, region-local feature that survives 64 px (bald scalp, fringe,
hair colour, thick brows, glasses, long hair/jaw, open mouth, moustache on the upper lip, beard on
jaw and chin, pale skin, wrinkles and greying for age). Everything else (position, scale, tilt,
background, skin tone, lighting, noise, glasses frame shape and colour ...) is a nuisance drawn
from the image's own seed, so re-rendering the same :class:`FaceParams` with one attribute flipped
gives that face's true counterfactual. Faces are drawn at 4x (2x above 128 px) and downsampled.

Only numpy and PIL are used here (no torch), so worker processes start fast.
"""
from __future__ import annotations

import csv
import math
import json
import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import atomic_open
from ..attributes import apply_conflicts
from .attr_file import write_attr_file, write_partition

# the model's DEFAULT_ATTRS, spelled out: importing attgan_batch.model would pull in torch
SYNTH_ATTRS: list[str] = [
    "Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows", "Eyeglasses",
    "Male", "Mouth_Slightly_Open", "Mustache", "No_Beard", "Pale_Skin", "Young",
]
# P(on) before the conflict rules; hair colours compete, so each is rarer than 1/2
PRIORS = {
    "Bald": 0.22, "Bangs": 0.4, "Black_Hair": 0.35, "Blond_Hair": 0.35, "Brown_Hair": 0.35,
    "Bushy_Eyebrows": 0.45, "Eyeglasses": 0.4, "Male": 0.5, "Mouth_Slightly_Open": 0.45,
    "Mustache": 0.35, "No_Beard": 0.6, "Pale_Skin": 0.35, "Young": 0.6,
}
# attributes a render_face caller may leave out, and the value they take then
NEUTRAL = {"No_Beard": 1, "Young": 1}
GLASSES_SHAPES = ("round", "rect", "aviator", "cateye")
GLASSES_COLOURS = {
    "black": (20, 20, 22), "red": (170, 25, 30), "gold": (205, 160, 40),
    "blue": (30, 70, 190), "tortoise": (110, 60, 25), "white": (235, 235, 235),
}
OTHER_HAIR = {"grey": (165, 165, 170), "auburn": (160, 58, 28)}
SPLIT_FRACTIONS = (0.8, 0.1)  # train, val; test is the rest (by image index, like CelebA)
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


# ----------------------------------------------------------------------------- parameters

@dataclass
class FaceParams:
    """Everything about a face that is not an attribute (all in unit image coordinates)."""

    cx: float = 0.5
    cy: float = 0.5
    scale: float = 1.0
    angle: float = 0.0  # degrees, counter-clockwise
    bg_top: tuple[int, int, int] = (90, 130, 200)
    bg_bottom: tuple[int, int, int] = (40, 60, 120)
    bg_diagonal: float = 0.0  # -1..1: how much the gradient runs sideways
    skin: tuple[int, int, int] = (205, 150, 110)
    hair_shade: float = 1.0  # multiplies the hair colour
    other_hair: str = "grey"  # the colour drawn when no hair-colour attribute is on
    iris: tuple[int, int, int] = (70, 90, 60)
    shirt: tuple[int, int, int] = (60, 60, 140)
    glasses_shape: str = "round"
    glasses_colour: str = "black"
    glasses_width: float = 0.016
    mustache_style: int = 0
    brightness: float = 1.0
    light_x: float = 0.0  # lighting gradient across the image
    light_y: float = 0.0
    noise: float = 0.01  # Gaussian noise std as a fraction of 255
    noise_seed: int = 0

    @classmethod
    def from_dict(cls, raw: dict) -> "FaceParams":
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**values)


def _colour(rng: np.random.Generator, low: Sequence[int], high: Sequence[int]) -> tuple[int, int, int]:
    t = rng.random()
    return tuple(int(a + (b - a) * t) for a, b in zip(low, high))


def sample_params(rng: np.random.Generator) -> FaceParams:
    """Random nuisance parameters: pose, background, skin, lighting, noise, accessory styles."""
    return FaceParams(
        cx=0.5 + rng.uniform(-0.05, 0.05), cy=0.5 + rng.uniform(-0.04, 0.04),
        scale=rng.uniform(0.88, 1.06), angle=rng.uniform(-8, 8),
        bg_top=tuple(int(v) for v in rng.integers(30, 240, 3)),
        bg_bottom=tuple(int(v) for v in rng.integers(20, 200, 3)),
        bg_diagonal=rng.uniform(-1, 1),
        skin=_colour(rng, (222, 168, 124), (92, 58, 38)),
        hair_shade=rng.uniform(0.85, 1.12),
        other_hair=str(rng.choice(list(OTHER_HAIR))),
        iris=tuple(int(v) for v in rng.integers(30, 140, 3)),
        shirt=tuple(int(v) for v in rng.integers(20, 230, 3)),
        glasses_shape=str(rng.choice(GLASSES_SHAPES)),
        glasses_colour=str(rng.choice(list(GLASSES_COLOURS))),
        glasses_width=rng.uniform(0.014, 0.024),
        mustache_style=int(rng.integers(0, 3)),
        brightness=rng.uniform(0.85, 1.12), light_x=rng.uniform(-0.25, 0.25), light_y=rng.uniform(-0.15, 0.15),
        noise=rng.uniform(0.0, 0.025), noise_seed=int(rng.integers(0, 2**31 - 1)),
    )


def make_consistent(labels: dict[str, int], order: Sequence[str], rules: str = "reference") -> dict[str, int]:
    """Apply the conflict rules for every attribute that is on, in ``order`` (a random order
    keeps any one attribute from always winning). Rules only turn attributes off, so the result
    satisfies every rule."""
    names = list(labels)
    vector = [labels[n] for n in names]
    for name in order:
        apply_conflicts(vector, name, names, rules)
    return dict(zip(names, vector))


def sample_attrs(rng: np.random.Generator, rules: str = "reference") -> dict[str, int]:
    """Independent Bernoulli draws (PRIORS), then made consistent with the conflict rules."""
    raw = {name: int(rng.random() < PRIORS[name]) for name in SYNTH_ATTRS}
    order = [SYNTH_ATTRS[i] for i in rng.permutation(len(SYNTH_ATTRS))]
    return make_consistent(raw, order, rules)


def flip(attrs: dict[str, int], name: str, rules: str = "reference") -> dict[str, int]:
    """The reference's test-time flip: toggle ``name``, then the conflict rules for it."""
    names = list(attrs)
    vector = [attrs[n] for n in names]
    i = names.index(name)
    vector[i] = 1 - vector[i]
    apply_conflicts(vector, name, names, rules)
    return dict(zip(names, vector))


# ----------------------------------------------------------------------------- drawing

def _mix(a: Sequence[float], b: Sequence[float], t: float) -> tuple[int, int, int]:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def _scale(c: Sequence[float], k: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(v * k)))) for v in c)


class _Pen:
    """Draws in unit face coordinates (face centred at 0.5, 0.5), already moved, scaled and tilted.

    Every shape is a polygon through :meth:`pt`, so the tilt costs nothing (no image rotation).
    """

    def __init__(self, draw: ImageDraw.ImageDraw, res: int, p: FaceParams):
        self.draw, self.res, self.p = draw, res, p
        rad = math.radians(p.angle)
        self._cos, self._sin = math.cos(rad) * p.scale * res, math.sin(rad) * p.scale * res
        self._ox, self._oy = p.cx * res, p.cy * res

    def pt(self, x: float, y: float) -> tuple[float, float]:
        u, v = x - 0.5, y - 0.5
        return (self._ox + u * self._cos + v * self._sin, self._oy - u * self._sin + v * self._cos)

    def w(self, width: float) -> int:
        return max(1, int(round(width * self.p.scale * self.res)))

    def poly(self, points, fill=None, outline=None, width=0.0):
        pts = [self.pt(x, y) for x, y in points]
        if outline is None:
            self.draw.polygon(pts, fill=fill)
        else:
            self.draw.line(pts + pts[:1], fill=outline, width=self.w(width), joint="curve")

    def line(self, points, fill, width):
        self.draw.line([self.pt(x, y) for x, y in points], fill=fill, width=self.w(width), joint="curve")

    @staticmethod
    def _arc(cx, cy, rx, ry, t0, t1, n):
        return [(cx + rx * math.cos(t), cy + ry * math.sin(t))
                for t in (t0 + (t1 - t0) * k / (n - 1) for k in range(n))]

    def ellipse(self, box, fill=None, outline=None, width=0.0):
        x0, y0, x1, y1 = box
        pts = self._arc((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, 0, 2 * math.pi, 40)[:-1]
        self.poly(pts, fill=fill, outline=outline, width=width)

    def chord_top(self, box, fill):
        """The upper half of the ellipse in ``box``."""
        x0, y0, x1, y1 = box
        self.poly(self._arc((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, math.pi, 2 * math.pi, 24),
                  fill=fill)

    def rect(self, box, fill=None, radius=0.0, outline=None, width=0.0):
        x0, y0, x1, y1 = box
        r = min(radius, (x1 - x0) / 2, (y1 - y0) / 2)
        if r <= 0:
            pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        else:
            h = math.pi / 2
            pts = (self._arc(x1 - r, y0 + r, r, r, -h, 0, 6) + self._arc(x1 - r, y1 - r, r, r, 0, h, 6)
                   + self._arc(x0 + r, y1 - r, r, r, h, 2 * h, 6) + self._arc(x0 + r, y0 + r, r, r, 2 * h, 3 * h, 6))
        self.poly(pts, fill=fill, outline=outline, width=width)


def _hair_colour(a: dict[str, int], p: FaceParams) -> tuple[int, int, int]:
    if a["Black_Hair"]:
        base = (28, 24, 26)
    elif a["Blond_Hair"]:
        base = (236, 204, 112)
    elif a["Brown_Hair"]:
        base = (118, 68, 32)
    else:
        base = OTHER_HAIR[p.other_hair]
    base = _scale(base, p.hair_shade)
    return _mix(base, (190, 190, 192), 0.4) if not a["Young"] else base


def _draw_head(pen: _Pen, male: bool, fill) -> None:
    if male:  # square jaw
        pen.ellipse((0.28, 0.14, 0.72, 0.62), fill=fill)
        pen.poly([(0.28, 0.38), (0.72, 0.38), (0.715, 0.66), (0.62, 0.79), (0.38, 0.79), (0.285, 0.66)], fill=fill)
    else:  # oval, narrow chin
        pen.ellipse((0.29, 0.15, 0.71, 0.80), fill=fill)


def _draw_glasses(pen: _Pen, p: FaceParams) -> None:
    colour = GLASSES_COLOURS[p.glasses_colour]
    width = p.glasses_width
    for ex, side in ((0.40, -1), (0.60, 1)):
        ey = 0.455
        if p.glasses_shape == "round":
            pen.ellipse((ex - 0.06, ey - 0.055, ex + 0.06, ey + 0.055), outline=colour, width=width)
        elif p.glasses_shape == "rect":
            pen.rect((ex - 0.068, ey - 0.042, ex + 0.068, ey + 0.045), radius=0.012, outline=colour, width=width)
        elif p.glasses_shape == "aviator":  # teardrop, wider towards the nose at the bottom
            offsets = [(-0.07, -0.045), (0.07, -0.045), (0.068, 0.01), (0.04, 0.055), (-0.02, 0.06), (-0.06, 0.03)]
            pen.poly([(ex + side * dx, ey + dy) for dx, dy in offsets], outline=colour, width=width)
        else:  # cat-eye: upswept outer corners
            out = ex + side * 0.07
            pts = [(ex - side * 0.065, ey - 0.03), (out, ey - 0.06), (out - side * 0.005, ey + 0.02),
                   (ex, ey + 0.05), (ex - side * 0.06, ey + 0.03)]
            pen.poly(pts, outline=colour, width=width)
        pen.line([(ex + side * 0.065, ey - 0.02), (0.5 + side * 0.22, ey - 0.01)], colour, width * 0.8)  # temple
    pen.line([(0.46, 0.445), (0.5, 0.435), (0.54, 0.445)], colour, width)  # bridge


def _draw_mustache(pen: _Pen, p: FaceParams, colour) -> None:
    if p.mustache_style == 0:  # thick band
        pen.poly([(0.41, 0.605), (0.5, 0.585), (0.59, 0.605), (0.60, 0.648), (0.5, 0.635), (0.40, 0.648)], fill=colour)
    elif p.mustache_style == 1:  # handlebar: curled ends
        pen.poly([(0.42, 0.6), (0.5, 0.588), (0.58, 0.6), (0.62, 0.63), (0.64, 0.60), (0.63, 0.655),
                  (0.5, 0.632), (0.37, 0.655), (0.36, 0.60), (0.38, 0.63)], fill=colour)
    else:  # chevron: droops past the mouth corners
        pen.poly([(0.43, 0.595), (0.5, 0.585), (0.57, 0.595), (0.6, 0.68), (0.57, 0.68), (0.5, 0.635),
                  (0.43, 0.68), (0.40, 0.68)], fill=colour)


def _draw_wrinkles(pen: _Pen, skin) -> None:
    ink = _scale(skin, 0.55)
    for y in (0.315, 0.345):  # forehead (hidden by bangs, as on real faces)
        pen.line([(0.40, y + 0.008), (0.5, y), (0.60, y + 0.008)], ink, 0.011)
    for ex, side in ((0.40, -1), (0.60, 1)):
        pen.line([(ex - 0.03, 0.49), (ex, 0.497), (ex + 0.03, 0.49)], ink, 0.01)  # eye bags
        for dy in (-0.02, 0.0, 0.02):  # crow's feet
            pen.line([(ex + side * 0.055, 0.455), (ex + side * 0.08, 0.455 + dy * 1.3)], ink, 0.008)
        pen.line([(0.5 + side * 0.045, 0.555), (0.5 + side * 0.085, 0.62), (0.5 + side * 0.075, 0.68)], ink, 0.011)


def _draw_face(layer: Image.Image, a: dict[str, int], p: FaceParams) -> None:
    res = layer.width
    pen = _Pen(ImageDraw.Draw(layer), res, p)
    male, bald = bool(a["Male"]), bool(a["Bald"])
    skin = (246, 232, 226) if a["Pale_Skin"] else p.skin
    skin = skin if a["Young"] else _mix(skin, (200, 190, 180), 0.15)
    hair = _hair_colour(a, p)
    dark_skin = _scale(skin, 0.8)

    pen.ellipse((0.10, 0.86, 0.90, 1.40), fill=p.shirt)  # shoulders
    if not male and not bald:  # long hair behind the head
        pen.rect((0.21, 0.17, 0.79, 0.86), fill=hair, radius=0.12)
    pen.rect((0.42, 0.66, 0.58, 0.92), fill=dark_skin)  # neck
    for x in (0.255, 0.695):  # ears
        pen.ellipse((x, 0.41, x + 0.05, 0.54), fill=dark_skin)
    _draw_head(pen, male, skin)

    if not a["No_Beard"]:  # jaw, cheeks and chin; the upper lip is the moustache's
        mask = Image.new("L", (res, res), 0)
        mpen = _Pen(ImageDraw.Draw(mask), res, p)
        _draw_head(mpen, male, 255)
        mpen.poly([(0.0, 0.0), (1.0, 0.0), (1.0, 0.46), (0.71, 0.46), (0.65, 0.555), (0.605, 0.585),
                   (0.61, 0.652), (0.39, 0.652), (0.395, 0.585), (0.35, 0.555), (0.29, 0.46), (0.0, 0.46)], fill=0)
        layer.paste(_scale(hair, 0.82), (0, 0, res, res), mask)

    if bald:
        pen.ellipse((0.40, 0.17, 0.52, 0.235), fill=_mix(skin, (255, 255, 255), 0.35))  # scalp shine
        for x0, x1 in ((0.265, 0.305), (0.695, 0.735)):  # side tufts
            pen.rect((x0, 0.33, x1, 0.47), fill=hair, radius=0.01)
    else:
        top = (0.25, 0.08, 0.75, 0.52) if not male else (0.26, 0.10, 0.74, 0.48)
        pen.chord_top(top, fill=hair)
        pen.rect((0.265, 0.27, 0.31, 0.44 if male else 0.6), fill=hair)  # sideburns / side hair
        pen.rect((0.69, 0.27, 0.735, 0.44 if male else 0.6), fill=hair)
    if a["Bangs"]:
        jag = [(0.30 + 0.05 * i, 0.39 if i % 2 else 0.365) for i in range(9)]
        pen.poly([(0.29, 0.22), (0.71, 0.22), (0.71, 0.37), *reversed(jag), (0.29, 0.37)], fill=hair)

    if not a["Young"]:
        _draw_wrinkles(pen, skin)

    brow = _scale(hair, 0.55) if not a["Blond_Hair"] else (150, 105, 45)
    for ex in (0.40, 0.60):
        if a["Bushy_Eyebrows"]:
            pen.poly([(ex - 0.07, 0.415), (ex - 0.055, 0.378), (ex + 0.065, 0.372), (ex + 0.075, 0.405),
                      (ex - 0.04, 0.422)], fill=brow)
        else:
            pen.line([(ex - 0.045, 0.405), (ex, 0.396), (ex + 0.045, 0.403)], brow, 0.009)
        pen.ellipse((ex - 0.04, 0.435, ex + 0.04, 0.477), fill=(248, 248, 245))
        pen.ellipse((ex - 0.018, 0.438, ex + 0.018, 0.474), fill=p.iris)
        pen.ellipse((ex - 0.008, 0.448, ex + 0.008, 0.464), fill=(10, 10, 10))
    pen.line([(0.5, 0.49), (0.48, 0.56), (0.515, 0.565)], _scale(skin, 0.7), 0.01)  # nose

    lips = (190, 60, 70) if not male else _scale(skin, 0.65)
    if a["Mouth_Slightly_Open"]:
        pen.ellipse((0.435, 0.655, 0.565, 0.725), fill=(60, 15, 22), outline=lips, width=0.012)
        pen.rect((0.455, 0.664, 0.545, 0.682), fill=(245, 245, 240), radius=0.004)
    else:
        pen.line([(0.44, 0.683), (0.5, 0.69), (0.56, 0.683)], lips, 0.016)
    if a["Mustache"]:
        _draw_mustache(pen, p, _scale(hair, 0.6))
    if a["Eyeglasses"]:
        _draw_glasses(pen, p)


def _background(p: FaceParams, res: int) -> Image.Image:
    """A two-colour linear gradient, vertical or tilted sideways by ``bg_diagonal``."""
    size = max(16, res // 4)  # smooth, so draw it small and upscale
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    d = abs(p.bg_diagonal)
    across = ramp if p.bg_diagonal > 0 else ramp[::-1]
    t = ramp[:, None] * (1 - d) + across[None, :] * d
    top, bottom = np.array(p.bg_top, np.float32), np.array(p.bg_bottom, np.float32)
    small = Image.fromarray((top + (bottom - top) * t[..., None] + 0.5).astype(np.uint8))
    return small.resize((res, res), Image.BILINEAR)


def render_face(attrs: dict[str, int], params: FaceParams, size: int) -> Image.Image:
    """Draw one face with the given 0/1 attributes (missing ones: off, except No_Beard/Young on).

    The same ``params`` and ``size`` always give the same pixels, so flipping one attribute shows
    exactly what that attribute changes.
    """
    a = {name: int(bool(attrs.get(name, NEUTRAL.get(name, 0)))) for name in SYNTH_ATTRS}
    res = size * (4 if size <= 128 else 2)
    canvas = _background(params, res)
    _draw_face(canvas, a, params)
    small = canvas.reduce(res // size)  # box-filter downsampling: the antialiasing

    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    light = params.brightness + params.light_x * ramp[None, :] + params.light_y * ramp[:, None]
    pixels = np.asarray(small, dtype=np.float32) * light[..., None]
    noise = np.random.default_rng(params.noise_seed).standard_normal((size, size, 3), dtype=np.float32)
    pixels += noise * (params.noise * 255)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


# ----------------------------------------------------------------------------- the dataset writer

def image_rng(seed: int, index: int) -> np.random.Generator:
    """Each image's own generator: the output does not depend on worker count or order."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def sample_face(seed: int, index: int, rules: str = "reference") -> tuple[dict[str, int], FaceParams]:
    rng = image_rng(seed, index)
    attrs = sample_attrs(rng, rules)
    return attrs, sample_params(rng)


def split_of(index: int, n: int) -> int:
    """0/1/2 (train/val/test) by position, like CelebA's index split."""
    train, val = int(round(n * SPLIT_FRACTIONS[0])), int(round(n * sum(SPLIT_FRACTIONS)))
    return 0 if index < train else 1 if index < val else 2


def filename(index: int) -> str:
    return f"{index + 1:06d}.png"


def _save_png(image: Image.Image, path: Path) -> None:
    with atomic_open(path, "wb", fsync=False) as fh:  # a dataset is regenerated, not recovered
        image.save(fh, format="PNG", compress_level=1)


def _render_one(job: tuple) -> tuple[int, dict[str, int], dict, list[tuple[str, str, dict[str, int]]]]:
    out, index, n, size, seed, counterfactuals, rules, cf_splits = job
    out = Path(out)
    attrs, params = sample_face(seed, index, rules)
    name = filename(index)
    _save_png(render_face(attrs, params, size), out / "images" / name)
    flips = []
    if counterfactuals and split_of(index, n) in cf_splits:
        stem = Path(name).stem
        for attr in SYNTH_ATTRS:
            target = flip(attrs, attr, rules)
            rel = f"counterfactuals/{stem}_{attr}.png"
            _save_png(render_face(target, params, size), out / rel)
            flips.append((attr, rel, target))
    return index, attrs, asdict(params), flips


def generate_dataset(
    out: str | Path, n: int, size: int = 64, seed: int = 0, counterfactuals: bool = False,
    workers: int = 1, rules: str = "reference", progress: Callable[[int], None] | None = None,
    counterfactual_splits: Sequence[str] = ("test",),
) -> Path:
    """Write a CelebA-format synthetic set to ``out`` and return ``out``.

    Layout: ``images/000001.png ..``, ``list_attr_celeba.txt``, ``list_eval_partition.txt``
    (first 80% train, 10% val, rest test), ``synth_params.jsonl`` (each face's nuisance and style
    parameters), and with ``counterfactuals`` ``counterfactuals/<stem>_<attr>.png`` for every test
    face plus ``counterfactuals/index.csv`` (original, attribute, path, then the full 0/1 vector).
    ``counterfactual_splits`` names the splits that get them (``("val", "test")`` also lets the
    validation split be scored against the truth); the faces themselves never depend on it.
    ``progress(k)`` is called with the number of faces finished since the last call.
    """
    if n < 1 or size < 16:
        raise ValueError("need n >= 1 and size >= 16")
    unknown = [name for name in counterfactual_splits if name not in SPLIT_IDS]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; choose from {', '.join(SPLIT_IDS)}")
    cf_splits = frozenset(SPLIT_IDS[name] for name in counterfactual_splits)
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    if counterfactuals:
        (out / "counterfactuals").mkdir(exist_ok=True)
    jobs = [(str(out), i, n, size, seed, counterfactuals, rules, cf_splits) for i in range(n)]
    results = []
    if workers <= 1:
        for job in jobs:
            results.append(_render_one(job))
            if progress:
                progress(1)
    else:
        # not "fork": a forked worker inherits whatever lock another thread of this process held
        # (torch, OpenVINO, a test runner's threads) and can wait on it forever
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers) as pool:
            for result in pool.imap_unordered(_render_one, jobs, chunksize=max(1, min(32, n // (workers * 8)))):
                results.append(result)
                if progress:
                    progress(1)
    results.sort(key=lambda r: r[0])

    write_attr_file(out / "list_attr_celeba.txt", SYNTH_ATTRS,
                    [(filename(i), [attrs[a] for a in SYNTH_ATTRS]) for i, attrs, _, _ in results])
    write_partition(out / "list_eval_partition.txt", [(filename(i), split_of(i, n)) for i in range(n)])
    with open(out / "synth_params.jsonl", "w", encoding="utf-8") as fh:
        for i, attrs, params, _ in results:
            fh.write(json.dumps({"file": filename(i), "attrs": attrs, "params": params}) + "\n")
    if counterfactuals:
        with open(out / "counterfactuals" / "index.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["original", "attribute", "path", *SYNTH_ATTRS])
            for i, _, _, flips in results:
                for attr, rel, target in flips:
                    writer.writerow([f"images/{filename(i)}", attr, rel, *[target[a] for a in SYNTH_ATTRS]])
    return out


def read_counterfactual_index(root: str | Path) -> list[dict]:
    """Rows of ``counterfactuals/index.csv``: original, attribute, path (relative to root), labels."""
    path = Path(root) / "counterfactuals" / "index.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        names = [c for c in reader.fieldnames or [] if c not in ("original", "attribute", "path")]
        return [{"original": r["original"], "attribute": r["attribute"], "path": r["path"],
                 "labels": {n: int(r[n]) for n in names}} for r in reader]


def contact_sheet(params: FaceParams, attrs: dict[str, int], size: int = 64) -> Image.Image:
    """One row: the face, then the face with each attribute flipped (for looking at the renderer)."""
    faces = [render_face(attrs, params, size)] + [render_face(flip(attrs, a), params, size) for a in SYNTH_ATTRS]
    sheet = Image.new("RGB", (size * len(faces), size))
    for k, face in enumerate(faces):
        sheet.paste(face, (k * size, 0))
    return sheet

