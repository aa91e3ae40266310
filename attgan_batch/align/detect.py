"""Find faces and their eyes with OpenCV's Haar cascades, which ship inside the OpenCV wheel.

Why Haar cascades: the detector must load offline from what pip installs. ``opencv-python-headless``
4.x bundles ``haarcascade_frontalface_default.xml`` and the eye cascades under
``cv2.data.haarcascades`` (checked: OpenCV 5.0 wheels no longer ship them, hence ``<5`` in the
``align`` extra). OpenCV's better CNN detector, YuNet (``cv2.FaceDetectorYN``), needs an ONNX file
that no OpenCV wheel contains; current mediapipe wheels ship no face model either (their Tasks API
downloads one); facenet-pytorch bundles MTCNN weights but pins torch<2.3. Haar gives a face box;
the eye cascade run inside the box's upper half gives the eye centres that alignment needs. When
no plausible eye pair is found, the eyes are estimated from the box (where the eye cascade puts
them on average) and the face says so (``eyes_from``), which the report shows.

Cascade objects are not documented as thread-safe, so each decode thread gets its own.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import AttGANBatchError

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADES = ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml")
DETECT_MAX_SIDE = 800   # photos are searched at most this large (speed); boxes are scaled back
EYE_FACE_WIDTH = 200    # face boxes are searched for eyes at this width (eyes ~25 px)
# Eye centres as fractions of the Haar face box, measured on the test photos (astronaut,
# grace_hopper): x 0.26-0.32 / 0.67-0.75, y 0.36-0.39.
BOX_EYES = ((0.30, 0.38), (0.70, 0.38))

EYES_CASCADE = "eye cascade"
EYES_ESTIMATED = "estimated from the face box (no eye pair found)"


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in photo pixels
    left_eye: tuple[float, float]            # image-left eye centre (continuous coordinates)
    right_eye: tuple[float, float]
    eyes_from: str

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def cv2_module():
    """OpenCV, or a setup error saying how to install it."""
    try:
        import cv2
    except ImportError as exc:
        raise AttGANBatchError(
            "--align needs OpenCV with its bundled Haar cascades: pip install 'attgan-batch[align]' "
            "(opencv-python-headless<5)"
        ) from exc
    return cv2


class HaarFaceDetector:
    """Faces (left to right) with eye centres, from an RGB uint8 array."""

    def __init__(self):
        self._local = threading.local()
        self._cascades()  # fail now, not on a worker thread, when OpenCV or a file is missing

    def _cascades(self):
        local = self._local
        if not hasattr(local, "face"):
            cv2 = cv2_module()
            folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
            if not folder:
                raise AttGANBatchError(
                    f"OpenCV {cv2.__version__} ships no Haar cascades (cv2.data.haarcascades); "
                    "install opencv-python-headless<5: pip install 'attgan-batch[align]'"
                )
            names = (FACE_CASCADE, *EYE_CASCADES)
            cascades = [cv2.CascadeClassifier(folder + name) for name in names]
            for name, cascade in zip(names, cascades):
                if cascade.empty():
                    raise AttGANBatchError(f"OpenCV could not load its bundled cascade {folder}{name}")
            local.face, local.eyes = cascades[0], cascades[1:]
        return local.face, local.eyes

    def detect(self, rgb: np.ndarray) -> list[Face]:
        cv2 = cv2_module()
        face_cascade, eye_cascades = self._cascades()
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        height, width = gray.shape
        shrink = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = cv2.resize(gray, (max(round(width * shrink), 1), max(round(height * shrink), 1)),
                           interpolation=cv2.INTER_AREA) if shrink < 1 else gray
        small = cv2.equalizeHist(small)
        min_side = max(24, int(0.06 * min(small.shape)))
        boxes = face_cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5,
                                              minSize=(min_side, min_side))
        faces = []
        if len(boxes):
            views = (cv2.equalizeHist(gray), gray)  # eyes hide in either; candidates from both
        for x, y, w, h in (np.asarray(boxes).reshape(-1, 4) / shrink):
            eyes = self._eyes(views, (x, y, w, h), eye_cascades)
            if eyes is None:
                left, right = [(x + fx * w, y + fy * h) for fx, fy in BOX_EYES]
                faces.append(Face((x, y, w, h), left, right, EYES_ESTIMATED))
            else:
                faces.append(Face((x, y, w, h), eyes[0], eyes[1], EYES_CASCADE))
        return sorted(faces, key=lambda f: f.box[0])

    @staticmethod
    def _eyes(views, box, eye_cascades) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The most plausible eye pair inside ``box`` (photo coordinates), or None.

        Candidates come from both eye cascades (plain and eyeglasses) on the equalized and the
        raw image, with the face scaled to EYE_FACE_WIDTH; :func:`_best_pair` picks the pair."""
        cv2 = cv2_module()
        x, y, w, h = box
        x0, y0 = max(int(x), 0), max(int(y + 0.1 * h), 0)
        x1, y1 = min(int(math.ceil(x + w)), views[0].shape[1]), min(int(math.ceil(y + 0.62 * h)), views[0].shape[0])
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        k = EYE_FACE_WIDTH / w
        size = (max(round((x1 - x0) * k), 1), max(round((y1 - y0) * k), 1))
        centres = []
        for view in views:
            roi = cv2.resize(view[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
            for cascade in eye_cascades:
                found = cascade.detectMultiScale(roi, scaleFactor=1.05, minNeighbors=3,
                                                 minSize=(int(0.08 * EYE_FACE_WIDTH),) * 2,
                                                 maxSize=(int(0.35 * EYE_FACE_WIDTH),) * 2)
                centres += [((ex + ew / 2) / k + x0, (ey + eh / 2) / k + y0, ew / k)
                            for ex, ey, ew, eh in np.asarray(found).reshape(-1, 4)]
        return _best_pair(centres, box)


def _best_pair(centres, box):
    """Two eye candidates that look like a pair: one each side of the box's centre line, about
    level, a plausible distance apart, of similar size; the pair nearest the box's expected eye
    line wins."""
    x, y, w, h = box
    best, best_cost = None, math.inf
    for i, (ax, ay, asz) in enumerate(centres):
        for bx, by, bsz in centres[i + 1:]:
            (lx, ly, ls), (rx, ry, rs) = sorted([(ax, ay, asz), (bx, by, bsz)])
            dist = math.hypot(rx - lx, ry - ly)
            if not (lx < x + 0.5 * w < rx and 0.25 * w <= dist <= 0.7 * w and abs(ry - ly) <= 0.25 * dist):
                continue
            if max(ls, rs) > 1.8 * min(ls, rs):
                continue
            expect = [(x + fx * w, y + fy * h) for fx, fy in BOX_EYES]
            cost = (math.hypot(lx - expect[0][0], ly - expect[0][1])
                    + math.hypot(rx - expect[1][0], ry - expect[1][1])) / w
            if cost < best_cost:
                best, best_cost = ((lx, ly), (rx, ry)), cost
    return best
