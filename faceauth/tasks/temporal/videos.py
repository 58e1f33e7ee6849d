"""Videos for the temporal trainer: the folder layout, and each video's frames.

    data_root/
      train/live/<video>/           bona fide: a folder of frames (JPEG/PNG, in name order) ...
      train/live/<video>.mp4        ... or a video file (.mp4, .avi, .mov, .mkv, .webm)
      train/spoof/...               attacks; directly, or one subfolder per attack type:
      train/spoof/replay/<video>    spoof/print/, spoof/replay/, ...
      val/  (the same)              the operating threshold is chosen here
      test/ (the same)              held out: only evaluation reads it

Under spoof/, a folder holding images is a video; a folder holding videos is an attack type.
Video files are decoded with PyAV (FFmpeg inside its wheel, so no system FFmpeg is needed); where the
dataset ships face boxes for a video (faceauth.tasks.face_boxes), its frames are cropped to one face
window for the whole video.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.io.files import bounded_lines
from faceauth.io.layout import SPLITS, UNTYPED_ATTACK, not_a_folder

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
from faceauth.tasks.face_boxes import side_file, video_window
from faceauth.tasks.video_files import VIDEO_SUFFIXES
LAYOUT = ("expected data_root/{train,val,test}/{live,spoof}/ where each item is a video: a folder of frames "
          f"({', '.join(FRAME_SUFFIXES)}) or a video file ({', '.join(VIDEO_SUFFIXES)}); spoof/ may hold one "
          "subfolder per attack type (print/, replay/, ...)")


class VideoProblem(Exception):
    """Why one video cannot be used (collected, then reported together with all the others)."""


@dataclass(frozen=True)
class Video:
    path: Path  # a frames folder or a video file
    is_attack: bool
    attack_type: str  # '' for bona fide

    @property
    def is_file(self) -> bool:
        return self.path.suffix.lower() in VIDEO_SUFFIXES and not self.path.is_dir()

    def fingerprint(self) -> list[tuple[str, int, int]]:
        """(name, size, mtime_ns) of every file the video is read from: what its cache entry is keyed by."""
        files = [self.path] if self.is_file else frame_files(self.path)
        side = side_file(self.path.resolve()) if self.is_file else None  # its face boxes decide the crop
        return [(f.name, *_size_mtime(f)) for f in files + ([side] if side is not None else [])]


def _size_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _visible(names: list[str]) -> list[str]:
    return sorted(n for n in names if not n.startswith("."))  # e.g. macOS "._x.png" resource forks


def frame_files(folder: Path) -> list[Path]:
    return [folder / n for n in _visible(os.listdir(folder)) if n.lower().endswith(FRAME_SUFFIXES)]


def _is_frames_folder(path: Path) -> bool:
    return path.is_dir() and any(n.lower().endswith(FRAME_SUFFIXES) for n in _visible(os.listdir(path)))


def _is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def attack_type_name(folder: str) -> str:
    """A spoof/ subfolder's name as a metric-key-safe word (apcer_<type>)."""
    return re.sub(r"[^a-z0-9]+", "_", folder.lower()).strip("_") or UNTYPED_ATTACK


def _videos_in(folder: Path, is_attack: bool, attack_type: str, empty: list[str]) -> Iterator[Video]:
    """The videos directly in `folder`; a subfolder without frames is added to `empty` (a video whose
    frames were never written, or a level of folders the layout does not have), never skipped silently."""
    for name in _visible(os.listdir(folder)):
        path = folder / name
        if _is_video_file(path) or _is_frames_folder(path):
            yield Video(path, is_attack, attack_type)
        elif path.is_dir():
            empty.append(f"{path} holds no frames ({', '.join(FRAME_SUFFIXES)}) and is not a video; fill or remove it")


def scan_split(folder: Path) -> tuple[list[Video], list[str]]:
    """The videos of one split (folder/live and folder/spoof), and what is wrong with its layout."""
    if not folder.is_dir():
        return [], [not_a_folder(folder)]
    videos, problems = [], []
    for name, is_attack in (("live", False), ("spoof", True)):
        class_dir = folder / name
        if not class_dir.is_dir():
            problems.append(not_a_folder(class_dir))
            continue
        if is_attack:  # spoof/: videos, and folders that are not videos themselves are attack types
            found = list(_videos_in(class_dir, True, UNTYPED_ATTACK, []))  # its other folders: the attack types below
            for sub in _visible(os.listdir(class_dir)):
                path = class_dir / sub
                if path.is_dir() and not _is_frames_folder(path):
                    typed = list(_videos_in(path, True, attack_type_name(sub), problems))
                    if not typed:
                        problems.append(f"{path} (attack type {attack_type_name(sub)}) holds no videos")
                    found += typed
        else:
            found = list(_videos_in(class_dir, False, "", problems))
        if not found:
            problems.append(f"{class_dir} holds no videos (frame folders or video files)")
        videos += found
    return videos, problems


def read_frames(video: Video) -> list[np.ndarray]:
    """Every frame as RGB uint8 (H, W, 3), in order; raises VideoProblem when a frame cannot be decoded
    or the video has none."""
    frames = _decode_file(video.path) if video.is_file else [_decode_image(p) for p in frame_files(video.path)]
    if not frames:
        raise VideoProblem("no frames could be decoded")
    return _face_window(video, frames) if video.is_file else frames


def _face_window(video: Video, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames cropped to the face window of the boxes the dataset ships (faceauth.tasks.face_boxes),
    or as they are without boxes."""
    height, width = frames[0].shape[:2]
    try:
        window = video_window(video.path, width, height, len(frames))
    except ValueError as err:  # a face-box file that cannot be parsed
        raise VideoProblem(str(err)) from None
    if window is None:
        return frames
    left, top, side = window
    return [frame[top:top + side, left:left + side] for frame in frames]


def _decode_image(path: Path) -> np.ndarray:
    from faceauth.io.imaging import open_rgb

    try:
        return np.asarray(open_rgb(path), dtype=np.uint8)
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError ... for broken files
        raise VideoProblem(f"frame {path.name} is unreadable ({type(err).__name__}: {err})") from None


def _decode_file(path: Path) -> list[np.ndarray]:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one decoding thread: frames come out the same on every run
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as err:
        raise VideoProblem(f"unreadable video file ({type(err).__name__}: {err})") from None


def check_frames(frames: list[np.ndarray], needed: int) -> None:
    """A usable video has one frame size throughout and at least `needed` frames."""
    sizes: dict[tuple[int, int], list[int]] = {}
    for index, frame in enumerate(frames):
        sizes.setdefault(frame.shape[:2], []).append(index)
    if len(sizes) > 1:
        parts = [f"{w}x{h} ({len(i)} frame{'s' if len(i) > 1 else ''}, first #{i[0]})" for (h, w), i in sizes.items()]
        raise VideoProblem(f"frames of mixed sizes: {', '.join(parts)}")
    check_length(len(frames), needed)


def check_length(count: int, needed: int) -> None:
    if count < needed:
        raise VideoProblem(f"{count} frame{'s' if count != 1 else ''}, but a sequence needs {needed} "
                           "((seq_len - 1) * frame_stride + 1)")


def problem_report(problems: dict[str, str], limit: int = 50) -> str:
    """Many bad videos in one message: one line each (the first `limit`)."""
    return "\n".join(bounded_lines([f"  {path}: {why}" for path, why in problems.items()], limit))


def check_layout(root: Path, splits: tuple[str, ...] = SPLITS) -> dict[str, list[Video]]:
    """Every split's videos; every layout problem of every split in one error."""
    scans = {name: scan_split(root / name) for name in splits}
    problems = [p for _, split_problems in scans.values() for p in split_problems]
    if problems:
        raise FaceauthError("temporal data layout: " + "; ".join(problems) + f". {LAYOUT}")
    return {name: videos for name, (videos, _) in scans.items()}
