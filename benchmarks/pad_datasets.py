"""Reading a public anti-spoofing dataset where it lies: the cost of preparing OULU-NPU's protocol 3 (six
folds that link the same videos from six folders) for the liveness model, with each video's sampled
frames kept once per file (`video-frames/`, the default) against decoded once per fold's folder.

    python benchmarks/pad_datasets.py [--rounds 3] [--output benchmarks/results/pad_datasets.json]

The data: a small OULU-NPU copy in its shipped layout (tests/pad_layouts.py: 6 phones x 2 sessions x 3
users x 5 access types = 180 Motion-JPEG clips of 96x72 frames, 12 frames each). Figures: wall seconds
to load every fold's train, val and test splits (`load_splits` per fold, as each fold's training does),
from an empty cache folder, the median over alternating rounds; and how many times a video file was
decoded. The ratio is per-fold decoding over the shared frames.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare_folds(root: Path, cache: Path, shared: bool) -> tuple[float, int]:
    """Seconds to load every fold's splits and the number of video decodes."""
    from faceauth.training.config import build_config
    from faceauth.tasks.protocols import materialise, resolve_protocol, scan_items
    from faceauth.tasks.liveness import data
    from faceauth.tasks.liveness.config import LivenessConfig

    config = build_config(LivenessConfig, {"data_root": str(root), "protocol": "oulu-npu-3", "cache_dir": str(cache),
                                           "image_size": 64, "frames_per_video": 8})
    items = scan_items(root)
    folds = materialise(resolve_protocol(config, items, root), items, cache)
    decodes = []
    original, frames_class = data.sampled_frames, data.VideoFrames
    data.sampled_frames = lambda path, count: decodes.append(path) or original(path, count)
    if not shared:  # the frames are kept per fold folder only: no file-keyed store
        data.VideoFrames = lambda frames, size, scale, store=None: frames_class(frames, size, scale, None)
    try:
        started = time.perf_counter()
        for fold in folds:
            data.load_splits(build_config(LivenessConfig, {**config.__dict__, "data_root": str(fold.root), "protocol": "standard"}))
        return time.perf_counter() - started, len(decodes)
    finally:
        data.sampled_frames, data.VideoFrames = original, frames_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    from tests.pad_layouts import write_oulu

    with tempfile.TemporaryDirectory() as folder:
        root = write_oulu(Path(folder) / "oulu", users={"Train_files": (1,), "Dev_files": (21,), "Test_files": (36,)},
                          sessions=(1, 3), frames=12)
        videos = len(list(root.glob("*_files/*.avi")))
        figures = {"shared": [], "per_fold": []}
        decodes = {}
        for round_ in range(args.rounds):
            for name in (("shared", "per_fold") if round_ % 2 == 0 else ("per_fold", "shared")):
                seconds, count = prepare_folds(root, Path(folder) / f"cache-{name}-{round_}", name == "shared")
                figures[name].append(seconds)
                decodes[name] = count
    result = {name: {"median_s": statistics.median(values), "runs_s": values, "video_decodes": decodes[name]}
              for name, values in figures.items()}
    result["videos"] = videos
    result["ratio_per_fold_over_shared"] = result["per_fold"]["median_s"] / result["shared"]["median_s"]
    print(f"OULU-NPU protocol 3 (6 folds), {videos} videos, 8 frames each, 64 px:")
    for name in ("shared", "per_fold"):
        print(f"  {name:9s} {result[name]['median_s']:6.2f} s (median of {args.rounds}), {decodes[name]} video decodes")
    print(f"  per-fold decoding / shared frames: {result['ratio_per_fold_over_shared']:.2f}x")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
