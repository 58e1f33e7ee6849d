"""Temporal liveness: frame-feature extraction cold vs cached, and the default synthetic search's wall time.

    python benchmarks/temporal_features.py [--trials 50] [--output benchmarks/results/temporal.json]
    python benchmarks/temporal_features.py --only features      # just the extraction figures

- features: the default synthetic dataset (24 videos per class in train, 12 in val and test, 32
  frames of 64x64 px) generated into a fresh cache folder; then every split loaded with an empty
  feature cache (decode + the built-in extractor + write .npy: "cold") and again (read .npy:
  "cached"); frames/s of each, and the extractor alone on decoded frames.
- search: `python -m faceauth.tune temporal --trials N` with every default (synthetic data, the
  search space's 20 epochs and patience 5, ASHA, one CPU per trial) as a user runs it, its feature
  cache warm from the step above (a search extracts features once, before its first trial).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Until faceauth/tasks/__init__.py lists the temporal task, `python -m faceauth.tune temporal` does not
# offer it; importing the task first registers it (the same command either way).
TUNE = "import sys, faceauth.tasks.temporal; from faceauth.tune import main; sys.exit(main(sys.argv[1:]))"


def bench_features(cache_dir: Path) -> dict:
    from faceauth.tasks.temporal.config import TemporalConfig
    from faceauth.tasks.temporal.data import data_root, load_splits
    from faceauth.tasks.temporal.features import HandcraftedExtractor
    from faceauth.tasks.temporal.videos import check_layout, read_frames

    config = TemporalConfig(synthetic=True, cache_dir=str(cache_dir))
    started = time.perf_counter()
    root = data_root(config)
    generate_s = time.perf_counter() - started

    def load() -> tuple[float, int, int]:
        started = time.perf_counter()
        splits = load_splits(config)
        return time.perf_counter() - started, sum(s.frames for s in splits.values()), sum(s.cache_hits for s in splits.values())

    cold_s, frames, cold_hits = load()
    cached_s, _, cached_hits = load()
    videos = [v for split in check_layout(root).values() for v in split]
    started = time.perf_counter()
    decoded = [read_frames(v) for v in videos]
    decode_s = time.perf_counter() - started
    extractor = HandcraftedExtractor()
    started = time.perf_counter()
    for frames_of_video in decoded:
        extractor(frames_of_video)
    extract_s = time.perf_counter() - started
    return {
        "dataset": root.name, "videos": len(videos), "frames": frames, "generate_s": generate_s,
        "cold_s": cold_s, "cold_frames_per_s": frames / cold_s, "cold_cache_hits": cold_hits,
        "cached_s": cached_s, "cached_frames_per_s": frames / cached_s, "cached_cache_hits": cached_hits,
        "cached_speedup": cold_s / cached_s,
        "decode_only_frames_per_s": frames / decode_s, "extract_only_frames_per_s": frames / extract_s,
        "extractor": extractor.identity, "feature_dim": extractor.dim,
    }


def bench_search(trials: int, cache_dir: Path, run_dir: Path) -> dict:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", TUNE, "temporal", "--trials", str(trials), "--name", "bench",
                    "--storage", str(run_dir), "--log-dir", str(run_dir / "logs"), "--cache-dir", str(cache_dir)],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    import pyarrow.parquet as pq

    rows = pq.read_table(run_dir / "bench" / "trials.parquet").to_pylist()
    metrics = json.loads((run_dir / "bench" / "best" / "metrics.json").read_text())
    fit_wall = metrics["search"]["wall_time_s"]
    return {
        "trials": len(rows), "command_wall_s": wall, "tuner_fit_wall_s": fit_wall,
        "statuses": metrics["search"]["statuses"], "epochs_run_total": sum(r["epochs_run"] for r in rows),
        "trial_efficiency": sum(r["loop_time_s"] for r in rows) / (fit_wall * 2),  # 2 trials at once on 2 CPUs
        "best_val_eer": metrics["val"]["eer"], "best_test": {k: metrics["test"][k] for k in ("eer", "acer", "roc_auc")},
        "best_hyperparameters": metrics["hyperparameters"],
        "onnx_max_abs_diff": metrics["onnx"]["max_abs_diff"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--only", choices=("features", "search"))
    parser.add_argument("--output", default="benchmarks/results/temporal.json")
    args = parser.parse_args()
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.only != "search":
            print("running features ...", flush=True)
            result["features"] = bench_features(tmp / "cache")
            print(json.dumps(result, indent=2), flush=True)
        if args.only != "features":
            print(f"running a {args.trials}-trial search ...", flush=True)
            result["search"] = bench_search(args.trials, tmp / "cache", tmp / "runs")
    result["machine"] = {"cpus": __import__("os").cpu_count()}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {output}")


if __name__ == "__main__":
    main()
