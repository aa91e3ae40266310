"""A grouped bar chart of an evaluation report, drawn with PIL (no plotting dependency)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

SERIES = (  # (report key, legend, colour)
    ("edit_accuracy", "editing accuracy", (52, 101, 164)),
    ("preservation_error", "preservation error", (204, 60, 50)),
    ("classifier_accuracy_real", "classifier accuracy (real, ceiling)", (150, 150, 150)),
)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()


def draw_chart(report: dict[str, Any], path: str | Path | None = None) -> Image.Image:
    """Per-attribute bars (0..1) for each series, plus a one-line summary; saved to ``path`` if given."""
    attrs = list(report["per_attribute"])
    group, bar = 60, 16
    left, top, height, bottom = 50, 70, 260, 130
    width = left + group * len(attrs) + 30
    img = Image.new("RGB", (max(width, 640), top + height + bottom), "white")
    draw = ImageDraw.Draw(img)
    small, normal = _font(11), _font(13)

    s = report.get("summary", {})

    def fmt(key: str, digits: int) -> str:
        value = s.get(key)
        return "n/a" if value is None else f"{value:.{digits}f}"

    draw.text((left, 8), f"{report.get('n_images', '?')} {report.get('split', '')} images"
              f"  |  edit acc {fmt('edit_accuracy', 3)}"
              f"  |  preservation err {fmt('preservation_error', 3)}  |  recon PSNR {fmt('reconstruction_psnr', 2)} dB"
              f"  SSIM {fmt('reconstruction_ssim', 3)}  |  vs counterfactual PSNR {fmt('counterfactual_psnr', 2)}",
              fill="black", font=normal)
    for k, (_, legend, colour) in enumerate(SERIES):
        x = left + k * 230
        draw.rectangle([x, 34, x + 12, 46], fill=colour)
        draw.text((x + 18, 33), legend, fill="black", font=small)

    for tick in range(0, 11, 2):  # axis and grid
        y = top + height - tick / 10 * height
        draw.line([left, y, img.width - 20, y], fill=(225, 225, 225))
        draw.text((8, y - 6), f"{tick / 10:.1f}", fill="black", font=small)
    draw.line([left, top, left, top + height], fill="black")
    draw.line([left, top + height, img.width - 20, top + height], fill="black")

    for i, name in enumerate(attrs):
        x0 = left + 6 + i * group
        for k, (key, _, colour) in enumerate(SERIES):
            value = report["per_attribute"][name].get(key)
            if value is None:
                continue
            y = top + height - max(0.0, min(1.0, value)) * height
            draw.rectangle([x0 + k * bar, y, x0 + (k + 1) * bar - 2, top + height], fill=colour)
        label = Image.new("RGBA", (int(draw.textlength(name, font=small)) + 4, 14), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((0, 0), name, fill="black", font=small)
        label = label.rotate(-60, expand=True)
        img.paste(label, (x0, top + height + 4), label)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
    return img
