"""Embedding speed of a folder of face images with the three test embedders (tests/unit/tasks/fusion/test_embed.py:
ArcFace-, FaceNet- and MobileFaceNet-like ONNX models of 112, 160 and 96 pixels), cold against cached.

    .venv/bin/python benchmarks/embed_images.py [--identities 50] [--per-identity 8] [--size 250]

`cold` embeds every image into an empty cache (decode, resize, the three onnxruntime models, cache
write); `cached` is the same call again (scan and stat the folder, hash the models, read the cache);
`baseline` is the cold path one image per onnxruntime call (batch 1), as a per-image script would
run it. The images are JPEG face-crop-sized pictures (default 250x250, like LFW); the models are small,
so the figures show faceauth's own cost (decoding, resizing, batching, caching) more than the models'.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test embedders live in tests/


def write_images(root: Path, identities: int, per_identity: int, size: int, seed: int = 0) -> int:
    """Smooth random pictures (low-resolution noise, upscaled, plus grain) saved as JPEG quality 90."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(identities):
        folder = root / f"person_{i:04d}"
        folder.mkdir(parents=True)
        for j in range(per_identity):
            coarse = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
            pixels = np.clip(np.asarray(coarse, np.float32) + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{j:03d}.jpg", quality=90)
    return identities * per_identity


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identities", type=int, default=50)
    parser.add_argument("--per-identity", type=int, default=8)
    parser.add_argument("--size", type=int, default=250, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default="benchmarks/results/embed_images.json")
    args = parser.parse_args()

    import onnxruntime

    from faceauth.tasks.fusion.embedders import parse_embedders
    from faceauth.tasks.fusion.image_embeddings import embed_directory
    from tests.unit.tasks.fusion.test_embed import ARCHITECTURES, build_embedders

    quiet = lambda line: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = build_embedders(tmp)
        specs = parse_embedders([f"{name}={path}{ARCHITECTURES[name][2]}" for name, (path, _) in models.items()])
        count = write_images(tmp / "faces", args.identities, args.per_identity, args.size)
        baseline_s, _ = timed(embed_directory, tmp / "faces", specs, str(tmp / "cache1"), 1, log=quiet)
        cold_s, cold = timed(embed_directory, tmp / "faces", specs, str(tmp / "cache"), args.batch_size, log=quiet)
        cached_s, cached = timed(embed_directory, tmp / "faces", specs, str(tmp / "cache"), args.batch_size, log=quiet)
        assert all(n == count for n in cold.computed.values()) and not any(cached.computed.values())
        cache_bytes = sum(p.stat().st_size for p in (tmp / "cache").iterdir())
    result = {
        "images": count,
        "image_size": args.size,
        "embedders": {name: {"input": list(ARCHITECTURES[name][1][1:]), "dim": int(cold.arrays[name].shape[1])} for name in cold.arrays},
        "batch_size": args.batch_size,
        "cpu_cores": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
        "baseline_batch1": {"seconds": baseline_s, "images_per_s": count / baseline_s},
        "cold": {"seconds": cold_s, "images_per_s": count / cold_s},
        "cached": {"seconds": cached_s, "images_per_s": count / cached_s},
        "cold_vs_baseline": baseline_s / cold_s,
        "cached_vs_cold": cold_s / cached_s,
        "cache_mb": cache_bytes / 1e6,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
