"""Liveness: training speed with the decoded-image cache against decoding every epoch, and the wall
time of the default synthetic search. One script run, figures side by side.

    python benchmarks/liveness_train.py [--rounds 3] [--trials 50] [--output benchmarks/results/liveness_train.json]
    python benchmarks/liveness_train.py --only throughput      # just the cache figures

- throughput: the default model (ResNet-18 layout, width 32, 64 px) trained by `train_once` on the
  default synthetic data (400 train, 200 val images) with `cache: true` (decoded once into a
  memory-mapped array) and `cache: false` (every image decoded again each time it is used, as a
  plain Dataset without a cache does), on two sources: the synthetic 64 px JPEGs as drawn, and the
  same images re-encoded as 640x480 JPEGs, the size of the camera frames real PAD sets (CASIA-FASD,
  Replay-Attack, OULU-NPU) are cut from. Figures: train images/s = train images / warm epoch time
  (the epoch's validation pass included), the median over alternating runs; bare decode, cache
  build and cache read rates. torch's default threads (2 on a 2-core machine).
- search: `python -m faceauth.tune liveness --synthetic --trials N` as a user runs it (subprocess, a
  fresh cache folder, so drawing the data and building the cache are included), and the default
  single run (`faceauth.train liveness --synthetic` with the search's epochs) on the same test split.
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
SEARCH_EPOCHS = {"epochs": 8, "patience": 3}  # search_spaces/liveness.yaml's fixed keys


def make_frames(source: Path, target: Path, size=(640, 480)) -> Path:
    """Every image of `source` upscaled to a camera-frame-sized JPEG under the same relative path."""
    from PIL import Image

    for path in sorted(source.rglob("*.jpg")):
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(path).convert("RGB").resize(size, Image.Resampling.BICUBIC).save(out, quality=90)
    return target


def train_epoch_time(data_root: str, cache: bool, epochs: int, cache_dir: str) -> float:
    """One standalone run of the default model; the time of its last epoch (warm)."""
    from faceauth.workflows.config import resolve_config
    from faceauth.workflows.train import train_once
    from faceauth.tasks import get_task

    task = get_task("liveness")
    with tempfile.TemporaryDirectory() as tmp:
        config = resolve_config(task, None, {"data_root": data_root, "cache": cache, "cache_dir": cache_dir,
                                             "epochs": epochs, "patience": 0, "log_dir": tmp, "output_dir": tmp})
        history = train_once(task, config, verbose=False)["history"]
    return history[-1]["epoch_time_s"]


def decode_rates(data_root: str, cache_dir: str) -> dict:
    """Images/s of decoding the train split (decode_image, one thread), of building the cache (decoding
    on all threads, writing the array) and of reading the cached array in shuffled batches of 32."""
    import numpy as np

    from faceauth.workflows.config import resolve_config
    from faceauth.tasks import get_task
    from faceauth.tasks.liveness.data import decode_image, load_splits, scan_folder

    config = resolve_config(get_task("liveness"), None, {"data_root": data_root, "cache_dir": cache_dir})
    folder = Path(data_root) / "train"
    files, _ = scan_folder(folder)
    started = time.perf_counter()
    for f in files:
        decode_image(folder / f.relpath, config.image_size)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    images = load_splits(config, ("train",))["train"].images  # builds the cache (cache_dir is fresh)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    for batch in np.array_split(np.random.default_rng(0).permutation(len(images)), len(images) // 32):
        np.asarray(images[np.sort(batch)]).sum()
    read_s = time.perf_counter() - started
    return {"decode_images_per_s": len(files) / decode_s, "cache_build_images_per_s": len(files) / build_s,
            "cache_read_images_per_s": len(images) / read_s}


def bench_throughput(epochs: int, rounds: int, tmp: Path) -> dict:
    """Cache and decode runs alternate (cache, decode, cache, decode...) so that a change in the
    machine's load during the benchmark hits both alike; the median of each mode's warm epochs counts."""
    import statistics

    from faceauth.tasks.liveness.synthetic import SyntheticSpec, cached_dataset

    synthetic = cached_dataset(tmp / "data", SyntheticSpec())
    sources = {"synthetic_64px_jpeg": synthetic, "frames_640x480_jpeg": make_frames(synthetic, tmp / "frames")}
    train_images = 2 * SyntheticSpec().split_sizes()["train"]
    figures = {}
    for name, root in sources.items():
        cache_dir = str(tmp / f"cache-{name}")
        rates = decode_rates(str(root), cache_dir)
        times = {"cache": [], "decode_each_epoch": []}
        for _ in range(rounds):
            times["cache"].append(train_epoch_time(str(root), True, epochs, cache_dir))
            times["decode_each_epoch"].append(train_epoch_time(str(root), False, epochs, cache_dir))
        epoch_s = {mode: statistics.median(t) for mode, t in times.items()}
        figures[name] = {
            **{f"{mode}_epoch_s": value for mode, value in epoch_s.items()},
            **{f"{mode}_train_images_per_s": train_images / value for mode, value in epoch_s.items()},
            "speedup": epoch_s["decode_each_epoch"] / epoch_s["cache"],
            "epoch_times_s": times, **rates,
        }
        print(name, json.dumps(figures[name]), flush=True)
    return figures


def bench_search(trials: int, tmp: Path) -> dict:
    run_dir = tmp / "runs"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "faceauth.tune", "liveness", "--synthetic", "--trials", str(trials),
                    "--name", "bench", "--storage", str(run_dir), "--log-dir", str(tmp / "logs"),
                    "--cache-dir", str(tmp / "search-cache")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    import pyarrow.parquet as pq

    rows = pq.read_table(run_dir / "bench" / "trials.parquet").to_pylist()
    metrics = json.loads((run_dir / "bench" / "best" / "metrics.json").read_text())
    return {
        "command_wall_s": wall, "tuner_fit_wall_s": metrics["search"]["wall_time_s"], "trials": len(rows),
        "statuses": metrics["search"]["statuses"], "epochs_run_total": sum(r["epochs_run"] for r in rows),
        "trial_efficiency": sum(r["loop_time_s"] for r in rows) / (metrics["search"]["wall_time_s"] * 2),
        "best_val_eer": metrics["val"]["eer"], "best_test": metrics["test"],
        "best_hyperparameters": metrics["hyperparameters"],
    }


def bench_single(tmp: Path) -> dict:
    """The default configuration alone (the search's first point), evaluated on the same test split."""
    from faceauth.workflows.config import resolve_config
    from faceauth.workflows.train import train_once
    from faceauth.tasks import get_task

    task = get_task("liveness")
    config = resolve_config(task, None, {"synthetic": True, **SEARCH_EPOCHS, "cache_dir": str(tmp / "search-cache"),
                                         "log_dir": str(tmp / "logs"), "output_dir": str(tmp / "single")})
    result = train_once(task, config, verbose=False)
    return {"wall_s": result["wall_time_s"], "val_eer": result["checkpoint"]["metrics"]["eer"],
            "test": task.evaluate(result["checkpoint"], None).model_metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per throughput run (the last one is timed)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating cache / decode runs per source")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--only", choices=("throughput", "search"))
    parser.add_argument("--output", default="benchmarks/results/liveness_train.json")
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "throughput"):
            result["throughput"] = bench_throughput(args.epochs, args.rounds, Path(tmp))
            print(json.dumps(result["throughput"], indent=2), flush=True)
        if args.only in (None, "search"):
            result["search"] = bench_search(args.trials, Path(tmp))
            print(json.dumps(result["search"], indent=2), flush=True)
            result["single_default_run"] = bench_single(Path(tmp))
    output = ROOT / args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
