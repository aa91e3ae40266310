"""Where CelebA puts the eyes, and the similarity transform that puts a photo's eyes there.

AttGAN checkpoints were trained on CelebA's ``img_align_celeba`` files (178x218) after the
reference's centre 170 px crop. A real photo gives sensible edits only when its face sits where
the training faces sat, so the transform maps the detected eyes onto CelebA's eye positions in
that crop. Pure numpy, no OpenCV: the geometry is testable on its own.

Coordinates are continuous: pixel ``i`` covers ``[i, i+1)``, its centre is ``i + 0.5``.
:func:`to_pixel_matrix` converts a matrix to OpenCV's convention (pixel centres at integers).
"""
from __future__ import annotations

import math

import numpy as np

from ..data.images import CELEBA_ALIGNED_SIZE, crop_box

# Eye positions in the 178x218 aligned frame (pixel indices, image-left eye first). CelebA's
# aligned files were made by a similarity transform to fixed landmark positions; averaging
# list_landmarks_align_celeba.txt over the data set gives
#     lefteye 69 111  righteye 108 111  nose 88 136  leftmouth 72 152  rightmouth 105 152
# (the same numbers are recorded, e.g., in ALAE's align_faces.py, which re-creates CelebA
# alignment). The eyes are level, 39 px apart and symmetric about the frame's centre column
# (88.5 = (69 + 108) / 2, the frame centre is 89): this is the "~(70, 112) / ~(108, 112)" of
# the frame, measured rather than guessed.
CELEBA_EYES = ((69.0, 111.0), (108.0, 111.0))
CELEBA_MOUTH = ((72.0, 152.0), (105.0, 152.0))


def celeba_crop_eyes(size: int, margin: float = 0.0) -> np.ndarray:
    """Target eye centres (2x2, continuous) in a ``size`` square that is the reference's centre
    170 crop of the aligned frame, widened by ``margin`` (a fraction of 170) on every side."""
    if margin < 0 or margin > 1:
        raise ValueError(f"margin must be between 0 and 1, got {margin}")
    left, top, right, bottom = crop_box(CELEBA_ALIGNED_SIZE, "celeba")  # (4, 24, 174, 194)
    side = (right - left) * (1 + 2 * margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    eyes = np.array(CELEBA_EYES, dtype=np.float64) + 0.5  # pixel index -> pixel centre
    return (eyes - [cx - side / 2, cy - side / 2]) * (size / side)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation+uniform scale+shift mapping two points ``src`` exactly onto ``dst``."""
    p1, p2 = complex(*src[0]), complex(*src[1])
    q1, q2 = complex(*dst[0]), complex(*dst[1])
    if abs(p2 - p1) < 1e-6:
        raise ValueError("the two source points coincide")
    a = (q2 - q1) / (p2 - p1)
    b = q1 - a * p1
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]], dtype=np.float64)


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, -a @ m[:, 2:]])


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``m`` applied to an (N, 2) array of points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ m[:, :2].T + m[:, 2]


def scale_of(m: np.ndarray) -> float:
    """How much ``m`` enlarges lengths (the similarity's scale)."""
    return math.sqrt(abs(np.linalg.det(m[:, :2])))


def to_pixel_matrix(m: np.ndarray) -> np.ndarray:
    """``m`` (continuous coordinates) as OpenCV expects it (pixel centres at integer coordinates)."""
    out = m.copy()
    out[:, 2] = m[:, 2] + m[:, :2] @ [0.5, 0.5] - 0.5
    return out


def align_matrix(left_eye, right_eye, size: int, margin: float = 0.0) -> np.ndarray:
    """Photo -> aligned ``size`` crop: the image-left eye to CelebA's left eye, and so on."""
    return similarity(np.array([left_eye, right_eye], dtype=np.float64), celeba_crop_eyes(size, margin))
