"""Video files read in place with PyAV (FFmpeg inside its wheel): which suffixes are videos, and a few
frames spread evenly over a video, for the image models that learn from single frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
FRAME_MARK = "#"  # "live/v.avi#3": the fourth sampled frame of live/v.avi (a row of its own, one unit with its video)


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def spread(total: int, count: int) -> list[int]:
    """`count` frame indices spread evenly from the first frame to the last (repeats in a video
    shorter than `count`): the same frames on every run."""
    return [int(i) for i in np.linspace(0, max(total - 1, 0), count).round()]


def _frame_total(path: Path) -> int:
    """The number of frames: from the container's header where it has one, else by reading the
    packets (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)


def sampled_frames(path: Path, count: int) -> list[tuple[int, np.ndarray]]:
    """(frame index, RGB uint8 frame) for `count` frames spread over the video, decoded in order in one
    pass. Raises ValueError for a file that is no readable video or has no frames."""
    import av

    try:
        wanted = spread(_frame_total(path), count)
        frames: dict[int, np.ndarray] = {}
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one decoding thread: the same frames on every run
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    frames[index] = frame.to_ndarray(format="rgb24")
                if index >= wanted[-1]:
                    break
    except (av.error.FFmpegError, IndexError, OSError) as err:
        raise ValueError(f"unreadable video file ({type(err).__name__}: {err})") from None
    if not frames:
        raise ValueError("the video has no frames that decode")
    last = max(frames)  # a header that promised more frames than decode: the last one stands in
    return [(i, frames.get(i, frames[last])) for i in wanted]
