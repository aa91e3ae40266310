"""Cut the aligned face out of a photo, and blend an edited face back in at full resolution.

Both directions touch only the face's bounding box, so a 40-megapixel photo costs no more than
its face. Going in, a face much larger than the crop is first shrunk with area averaging (plain
bilinear warping would alias). Going back, the edited crop is warped by the inverse transform
and blended through a feathered mask that is exactly 0 beyond the crop's edge band: every
pixel outside the face region keeps its original value bit for bit.
"""
from __future__ import annotations

import numpy as np

from .detect import cv2_module
from .geometry import apply, invert, scale_of, to_pixel_matrix

FEATHER_INSET = 0.03   # of the crop side: a band at the edge that is never blended in
FEATHER_WIDTH = 0.12   # of the crop side: the ramp from 0 to 1 after the inset


def _bbox(m_inv: np.ndarray, size: int, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int] | None:
    """Photo-space box (x0, y0, x1, y1, clipped) covering the ``size`` square mapped by ``m_inv``."""
    corners = apply(m_inv, np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64))
    x0, y0 = np.floor(corners.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def warp_to_crop(photo: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` RGB crop that ``m`` (photo -> crop, continuous) selects; beyond the
    photo's edge its border pixels are repeated."""
    cv2 = cv2_module()
    scale = scale_of(m)
    box = _bbox(invert(m), size, photo.shape[:2], pad=2 / max(scale, 1e-6))
    if box is None:  # the crop lies wholly outside the photo: nothing sensible to align
        raise ValueError("the aligned crop lies outside the photo")
    x0, y0, x1, y1 = box
    region = photo[y0:y1, x0:x1]
    shift = np.array([[1, 0, -x0], [0, 1, -y0]], dtype=np.float64)
    if scale < 0.5:  # shrink with area averaging first, so the warp itself is about 1:1
        rw, rh = max(round((x1 - x0) * scale), 1), max(round((y1 - y0) * scale), 1)
        region = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
        shift = np.diag([rw / (x1 - x0), rh / (y1 - y0)]) @ shift
    # m maps photo -> crop; the region is photo mapped by shift, so crop = m . shift^-1 (region)
    m_region = _compose(m, invert(shift))
    return cv2.warpAffine(np.ascontiguousarray(region), to_pixel_matrix(m_region), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def feather_mask(size: int) -> np.ndarray:
    """(size, size) float32 weights: 0 at the crop's edge band, rising smoothly to 1 inside."""
    t = (np.arange(size) + 0.5) / size
    ramp = np.clip((np.minimum(t, 1 - t) - FEATHER_INSET) / FEATHER_WIDTH, 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible edge where the ramp starts or ends
    return np.outer(ramp, ramp).astype(np.float32)


def _face_region(photo_shape, m: np.ndarray, size: int, mask: np.ndarray | None):
    """(box, crop -> region pixel matrix, region size, soft mask warped to the region) of the photo
    area an aligned crop of ``size`` came from; None when it lies outside the photo."""
    cv2 = cv2_module()
    mask = feather_mask(size) if mask is None else mask
    box = _bbox(invert(m), size, photo_shape[:2], pad=2)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    # crop -> region coordinates: the inverse of m, then shifted to the box
    px = to_pixel_matrix(_compose(np.array([[1, 0, -x0], [0, 1, -y0]], dtype=np.float64), invert(m)))
    dsize = (x1 - x0, y1 - y0)
    alpha = cv2.warpAffine(mask, px, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return box, px, dsize, np.clip(alpha, 0, 1)[..., None]


def paste_back(photo: np.ndarray, crop: np.ndarray, m: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``photo`` with ``crop`` (an edited aligned crop, uint8) blended in where ``m`` took it from.

    Modifies and returns ``photo`` (pass a copy to keep the original)."""
    region = _face_region(photo.shape, m, crop.shape[0], mask)
    if region is None:
        return photo
    (x0, y0, x1, y1), px, dsize, alpha = region
    cv2 = cv2_module()
    face = cv2.warpAffine(crop, px, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    old = photo[y0:y1, x0:x1].astype(np.float32)
    blended = old + (face.astype(np.float32) - old) * alpha
    photo[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return photo


def add_back(photo: np.ndarray, diff: np.ndarray, m: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``photo`` plus ``diff`` (an aligned crop's float32 change, in 0-255 units) where ``m`` took the
    crop from, under the same soft mask as :func:`paste_back`: the edit is upsampled, the photo's own
    detail stays. Modifies and returns ``photo``."""
    region = _face_region(photo.shape, m, diff.shape[0], mask)
    if region is None:
        return photo
    (x0, y0, x1, y1), px, dsize, alpha = region
    cv2 = cv2_module()
    change = cv2.warpAffine(diff.astype(np.float32), px, dsize, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    old = photo[y0:y1, x0:x1].astype(np.float32)
    photo[y0:y1, x0:x1] = np.clip(np.rint(old + change * alpha), 0, 255).astype(np.uint8)
    return photo


def region_mask(shape: tuple[int, int], m: np.ndarray, size: int, grow: float = 0.0) -> np.ndarray:
    """Boolean (H, W): the photo pixels inside the crop square that ``m`` maps from (grown by
    ``grow`` photo pixels). What paste_back may change; used by tests and the report."""
    cv2 = cv2_module()
    corners = apply(invert(m), np.array([[0, 0], [size, 0], [size, size], [0, size]], dtype=np.float64))
    centre = corners.mean(axis=0)
    if grow:
        corners = centre + (corners - centre) * (1 + grow / max(np.linalg.norm(corners[0] - centre), 1e-6))
    out = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(out, np.round(corners - 0.5).astype(np.int32), 1)
    return out.astype(bool)


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine 'a after b'."""
    return np.hstack([a[:, :2] @ b[:, :2], a[:, :2] @ b[:, 2:] + a[:, 2:]])

