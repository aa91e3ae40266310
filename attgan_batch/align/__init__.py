"""``--align``: edit the faces of real photos.

Detect the faces (:mod:`.detect`, OpenCV Haar cascades bundled in the wheel), warp each so its
eyes land where CelebA's aligned crop has them (:mod:`.geometry`), edit that crop, and blend the
result back into the full-resolution photo through the inverse transform (:mod:`.warp`).
:mod:`.photo` ties the steps together for the pipeline and the Python API.
"""
from .photo import AlignedFace, AlignedPhoto, AlignOptions, align_photo, compose, decode_aligned, parse_face

__all__ = ["AlignOptions", "AlignedFace", "AlignedPhoto", "align_photo", "compose", "decode_aligned", "parse_face"]
