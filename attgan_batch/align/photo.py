"""A photo's faces as model inputs, and the edited faces as one output image.

``align_photo`` detects the faces, picks the ones ``--face`` asks for, and cuts each out with the
CelebA geometry (:mod:`.geometry`) at the model's size. ``compose`` turns the generator's outputs
back into the row's image: the whole photo with each edited face blended in (``paste``), or the
edited aligned crops side by side (``--no-paste``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.images import DEFAULT_MAX_PIXELS, load_rgb, to_uint8
from ..errors import RowError
from ..residual import residual
from .options import FACE_CHOICES, AlignOptions, parse_face  # noqa: F401 - re-exported
from .detect import EYES_CASCADE, Face, HaarFaceDetector
from .geometry import align_matrix
from .warp import add_back, paste_back, warp_to_crop

@dataclass
class AlignedFace:
    face: Face
    index: int          # position among the photo's faces, left to right
    matrix: np.ndarray  # photo -> crop (continuous coordinates)
    x: torch.Tensor     # (3, size, size) in [-1, 1], like data.images.preprocess


@dataclass
class AlignedPhoto:
    photo: np.ndarray                   # (H, W, 3) uint8, the whole decoded photo
    faces: list[AlignedFace]
    found: int                          # faces detected in the photo
    notes: list[str] = field(default_factory=list)

    @property
    def x(self) -> torch.Tensor:
        return self.faces[0].x


_detector: HaarFaceDetector | None = None
_detector_lock = threading.Lock()


def default_detector() -> HaarFaceDetector:
    global _detector
    with _detector_lock:
        if _detector is None:
            _detector = HaarFaceDetector()
        return _detector


def to_tensor(crop: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).to(torch.float32).div(255)
    return x.sub_(0.5).div_(0.5)


def align_photo(image: Image.Image | np.ndarray, size: int, options: AlignOptions,
                detector: HaarFaceDetector | None = None) -> AlignedPhoto:
    """Detect, select and align the faces of ``image``; RowError when there is none to edit."""
    photo = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.uint8)
    faces = (detector or default_detector()).detect(photo)
    if not faces:
        raise RowError("no face detected (OpenCV Haar frontal-face cascade); --align needs a frontal face "
                       "at least 6% of the photo's shorter side; crop or rotate the photo, or run without --align")
    notes = []
    if options.face == "all":
        chosen = list(range(len(faces)))
    elif options.face == "largest":
        chosen = [max(range(len(faces)), key=lambda i: faces[i].area)]
        if len(faces) > 1:
            notes.append(f"{len(faces)} faces found; edited the largest (face {chosen[0]}, 0 = leftmost)")
    else:
        if options.face >= len(faces):
            raise RowError(f"--face {options.face}: the photo has {len(faces)} detected face(s), "
                           f"numbered 0-{len(faces) - 1} from the left")
        chosen = [options.face]
    aligned = []
    for i in chosen:
        face = faces[i]
        m = align_matrix(face.left_eye, face.right_eye, size, options.margin)
        aligned.append(AlignedFace(face, i, m, to_tensor(warp_to_crop(photo, m, size))))
        if face.eyes_from != EYES_CASCADE:
            notes.append(f"face {i}: eyes {face.eyes_from}")
    return AlignedPhoto(photo, aligned, len(faces), notes)


def decode_aligned(path: str | Path, size: int, options: AlignOptions,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> AlignedPhoto:
    """``load_rgb`` then ``align_photo``: what a decode worker does for a row under ``--align``."""
    return align_photo(load_rgb(path, max_pixels), size, options)


def compose(aligned: AlignedPhoto, outputs: list[torch.Tensor], options: AlignOptions,
            recons: list[torch.Tensor] | None = None) -> Image.Image:
    """The row's image from one generator output per aligned face (same order). With ``recons``
    (each face's reconstruction), residual composition: only what the edit changes,
    ``output - recon``, is upsampled and added to the photo; the photo keeps its own detail."""
    if recons is not None:
        if not options.paste:
            return Image.fromarray(np.concatenate([to_uint8(residual(f.x, y, r))
                                                   for f, y, r in zip(aligned.faces, outputs, recons)], axis=1))
        photo = aligned.photo.copy()
        for face, y, r in zip(aligned.faces, outputs, recons):
            diff = ((y - r).detach().cpu().float().numpy() * np.float32(127.5)).transpose(1, 2, 0)
            add_back(photo, diff, face.matrix)
        return Image.fromarray(photo)
    crops = [to_uint8(y) for y in outputs]
    if not options.paste:
        return Image.fromarray(np.concatenate(crops, axis=1))
    photo = aligned.photo.copy()
    for face, crop in zip(aligned.faces, crops):
        paste_back(photo, crop, face.matrix)
    return Image.fromarray(photo)
