"""What ``--align`` does, as plain settings: importing this needs neither torch nor OpenCV, so the
command line can parse and check them before loading anything heavy."""
from __future__ import annotations

from dataclasses import dataclass

FACE_CHOICES = ("largest", "all")


def parse_face(value: str | int) -> str | int:
    """``largest``, ``all`` or a face index (0 = leftmost face); anything else is a usage error."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"--face index must be 0 or more, got {value}")
        return value
    text = str(value).strip().lower()
    if text in FACE_CHOICES:
        return text
    if text.isdigit():
        return int(text)
    raise ValueError(f"--face must be 'largest', 'all' or a face index (0 = leftmost), got {value!r}")


@dataclass(frozen=True)
class AlignOptions:
    """What ``--align`` does: which faces (``largest``, ``all`` or an index, 0 = leftmost), extra
    context around the CelebA crop (``margin``, a fraction of the crop side per edge; 0 keeps the
    training geometry), and whether edited faces go back into the photo (``paste``)."""

    face: str | int = "largest"
    margin: float = 0.0
    paste: bool = True

    def __post_init__(self):
        object.__setattr__(self, "face", parse_face(self.face))
        if not 0 <= self.margin <= 1:
            raise ValueError(f"--margin must be between 0 and 1, got {self.margin}")
