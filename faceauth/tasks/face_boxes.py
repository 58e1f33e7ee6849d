"""Face boxes that public anti-spoofing datasets ship beside their videos and images, found from the
media file's own path (through a link, its target's), and the crop they give before resizing.

    Replay-Attack   <root>/face-locations/<group>/<real|attack/..>/<name>.face: per frame `frame x y w h`
                    (top-left corner, pixels); zero width or height means no face in that frame
    CASIA-FASD      the same `.face` format where a copy of bob's face-locations/ folder lies at the root
    CelebA-Spoof    <image>_BB.txt: `x y w h score` in a 224x224 reference frame (scaled to the image)
    OULU-NPU        <video>.txt: per frame `frame, x1, y1, x2, y2`, the two eye centres; the box is a
                    square centred below their midpoint, EYE_BOX times their distance wide (which eye
                    comes first does not matter)

A frame without a detection takes the box of the nearest frame that has one; media without any box
are centre-cropped as before. A side file that cannot be parsed is an error naming the file and line.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import numpy as np

Box = tuple[float, float, float, float]  # x, y, width, height in pixels of the frame
EYE_BOX = 2.5  # face width over the distance between the eye centres
EYE_DROP = 0.45  # the face's centre lies this many eye distances below the eyes' midpoint
REPLAY_DEPTH = 4  # <root>/<group>/<real|attack>/<fixed|hand>/<name>: how far up face-locations/ may lie


class BoxFile:
    """The boxes of one media file: frame index -> box (in its own frame's pixels)."""

    def __init__(self, path: Path, boxes: dict[int, Box], reference: Optional[tuple[int, int]] = None):
        self.path, self.boxes, self.reference = path, boxes, reference  # reference: (width, height) the boxes are in
        self.frames = np.array(sorted(boxes))

    def box(self, frame: int, width: int, height: int) -> Optional[Box]:
        """The box for `frame` (or the nearest frame with one), scaled to a width x height frame."""
        if not self.frames.size:
            return None
        nearest = int(self.frames[np.argmin(np.abs(self.frames - frame))])
        x, y, w, h = self.boxes[nearest]
        if self.reference:
            sx, sy = width / self.reference[0], height / self.reference[1]
            x, y, w, h = x * sx, y * sy, w * sx, h * sy
        return x, y, w, h


def _rows(path: Path, separator: Optional[str], columns: int) -> list[tuple[int, list[float]]]:
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f for f in (line.split(separator) if separator else line.split()) if f.strip()]
        try:
            values = [float(f) for f in fields[:columns]]
        except ValueError:
            values = []
        if len(values) < columns:
            raise ValueError(f"{path}, line {number}: expected {columns} numbers, got {line.strip()!r}")
        rows.append((number, values))
    return rows


def read_face_file(path: Path) -> BoxFile:
    """Replay-Attack's (and bob's CASIA-FASD) `.face`: frame x y w h, space separated."""
    return BoxFile(path, {int(v[0]): (v[1], v[2], v[3], v[4]) for _, v in _rows(path, None, 5) if v[3] > 0 and v[4] > 0})


def read_bb_file(path: Path) -> BoxFile:
    """CelebA-Spoof's `_BB.txt`: x y w h score, in a 224 x 224 frame; degenerate boxes (under 3 px) dropped."""
    rows = _rows(path, None, 4)
    boxes = {0: tuple(rows[0][1][:4])} if rows and min(rows[0][1][2:4]) >= 3 else {}
    return BoxFile(path, boxes, reference=(224, 224))


def read_eye_file(path: Path) -> BoxFile:
    """OULU-NPU's `.txt`: frame, x1, y1, x2, y2 (the eye centres), comma separated."""
    boxes = {}
    for _, (frame, x1, y1, x2, y2) in _rows(path, ",", 5):
        distance = float(np.hypot(x2 - x1, y2 - y1))
        if distance < 2:
            continue  # no eyes found in this frame
        side = EYE_BOX * distance
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + EYE_DROP * distance
        boxes[int(frame)] = (cx - side / 2, cy - side / 2, side, side)
    return BoxFile(path, boxes)


def _face_locations(media: Path) -> Optional[Path]:
    """<root>/face-locations/<path under root without suffix>.face, for a root a few levels up."""
    for depth, root in enumerate(media.parents):
        if depth >= REPLAY_DEPTH:
            break
        candidate = root.parent / "face-locations" / media.relative_to(root.parent).with_suffix(".face")
        if candidate.is_file():
            return candidate
    return None


def side_file(media: Path) -> Optional[Path]:
    """The box file shipped for a media file (its real path), or None."""
    bb = media.with_name(media.stem + "_BB.txt")
    if bb.is_file():
        return bb
    face = _face_locations(media)
    if face is not None:
        return face
    eyes = media.with_suffix(".txt")
    return eyes if media.suffix.lower() == ".avi" and eyes.is_file() else None


READERS = {".face": read_face_file, "_BB.txt": read_bb_file, ".txt": read_eye_file}


@functools.lru_cache(maxsize=256)
def boxes_for(media: str) -> Optional[BoxFile]:
    """The boxes shipped for a media file (its real path), or None. Raises ValueError for a side file
    that cannot be parsed."""
    path = side_file(Path(media))
    if path is None:
        return None
    return next(read(path) for suffix, read in READERS.items() if path.name.endswith(suffix))


def crop_square(image, box: Box, scale: float):
    """The square of side scale * max(w, h) around the box's centre, kept inside the image (a PIL
    image in, a PIL image out): the face at the same scale in every crop, whatever the box's shape."""
    x, y, w, h = box
    width, height = image.size
    side = min(max(w, h) * scale, width, height)
    left = min(max(x + w / 2 - side / 2, 0), width - side)
    top = min(max(y + h / 2 - side / 2, 0), height - side)
    return image.crop((round(left), round(top), round(left + side), round(top + side)))


def video_window(media: Path, width: int, height: int, frames: int, scale: float = 1.0) -> Optional[tuple[int, int, int]]:
    """One square crop for a whole video, (left, top, side): scale times the median box side around the
    median box centre, inside the frame. One window, not a box per frame, keeps every frame the same
    size and keeps the motion of the face against the frame, a cue of hand-held attacks."""
    boxes = boxes_for(str(Path(media).resolve()))
    if boxes is None or not boxes.frames.size:
        return None
    found = [boxes.box(i, width, height) for i in range(frames)]
    x, y, w, h = (np.median([b[i] for b in found]) for i in range(4))
    side = int(min(max(w, h) * scale, width, height))
    left = int(min(max(x + w / 2 - side / 2, 0), width - side))
    top = int(min(max(y + h / 2 - side / 2, 0), height - side))
    return left, top, side


def face_crop(image, media: Path, frame: int, scale: float):
    """`image` (frame `frame` of `media`) cropped to its shipped face box, or unchanged without one."""
    boxes = boxes_for(str(Path(media).resolve()))
    box = boxes.box(frame, *image.size) if boxes is not None else None
    return crop_square(image, box, scale) if box is not None else image
