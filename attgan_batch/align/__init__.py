"""``--align``: edit the faces of real photos.

Detect the faces (:mod:`.detect`, OpenCV Haar cascades bundled in the wheel), warp each so its
eyes land where CelebA's aligned crop has them (:mod:`.geometry`), edit that crop, and blend the
result back into the full-resolution photo through the inverse transform (:mod:`.warp`).
:mod:`.photo` ties the steps together for the pipeline and the Python API; :mod:`.options`
holds the settings and imports nothing heavy (neither does this package until a name is used).
"""
from .options import AlignOptions, parse_face

__all__ = ["AlignOptions", "AlignedFace", "AlignedPhoto", "align_photo", "compose", "decode_aligned", "parse_face"]


def __getattr__(name: str):  # lazy: torch, numpy and OpenCV load only when photos are aligned
    if name in __all__:
        from . import photo

        return getattr(photo, name)
    raise AttributeError(name)
