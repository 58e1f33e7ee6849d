"""Deployment cost and the search for the model that ships. Figures quoted in docs/benchmarks.md.

    python benchmarks/deployment_cost.py --only spread       # how noisy onnx_latency_ms is here
    python benchmarks/deployment_cost.py --only search --trials 16
    python benchmarks/deployment_cost.py                     # both; JSON to benchmarks/results/deployment_cost.json

- spread: `faceauth.evaluation.cost.model_cost` measured REPEAT times on each of three liveness models (the
  smallest and largest of search_spaces/liveness.yaml and one between): the spread of the median
  latency between repeats (min, max, relative IQR), the same figure a trial reports.
- search: on the same trial budget, (a) `faceauth.tune liveness --synthetic --objective eer:min
  --objective onnx_latency_ms:min` against (b) a single-objective search (`eer:min`) followed by
  picking the fastest trial within 1 point (0.01) of its best validation EER. Compared: the
  hypervolume of each search's trials in (validation EER, onnx_latency_ms) with one reference point
  (EER 0.5, 1.1 x the largest latency seen), the wall time, and each one's pick.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceauth.evaluation.cost import model_cost  # noqa: E402
from faceauth.tuning.objectives import hypervolume_2d, knee, pareto_front  # noqa: E402
from faceauth.tasks import get_task  # noqa: E402

MODELS = {"width8-depth10-32px": (8, 10, 32), "width16-depth18-48px": (16, 18, 48), "width32-depth18-64px": (32, 18, 64)}


def bench_spread(repeats: int) -> dict:
    task = get_task("liveness")
    results = {}
    for name, (width, depth, size) in MODELS.items():
        args = {"width": width, "depth": depth, "dropout": 0.0, "image_size": size, "mean": [0.5] * 3, "std": [0.25] * 3}
        model = task.build_model(args)
        spec = task.onnx_spec(args)
        started = time.perf_counter()
        costs = [model_cost(model, spec) for _ in range(repeats)]
        latencies = np.array([c["onnx_latency_ms"] for c in costs])
        q1, median, q3 = np.percentile(latencies, [25, 50, 75])
        results[name] = {
            "params": costs[0]["params"], "onnx_bytes": costs[0]["onnx_bytes"], "repeats": repeats,
            "latency_ms_median": float(median), "latency_ms_min": float(latencies.min()),
            "latency_ms_max": float(latencies.max()), "relative_iqr": float((q3 - q1) / median),
            "max_over_min": float(latencies.max() / latencies.min()),
            "seconds_per_measurement": (time.perf_counter() - started) / repeats,
        }
        print(f"{name}: params {costs[0]['params']:,}, onnx {costs[0]['onnx_bytes']:,} B, latency median "
              f"{median:.4f} ms (min {latencies.min():.4f}, max {latencies.max():.4f}, IQR/median {(q3 - q1) / median:.1%}, "
              f"max/min {latencies.max() / latencies.min():.2f}) over {repeats} exports; "
              f"{results[name]['seconds_per_measurement']:.2f} s per export + measurement", flush=True)
    return results


def run_search(run_dir: Path, name: str, trials: int, extra: list[str]) -> tuple[float, list[dict], int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "faceauth.tune", "liveness", "--synthetic", "--trials", str(trials),
                           "--name", name, "--storage", str(run_dir), "--log-dir", str(run_dir / "logs"),
                           "--no-dashboard", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    import pyarrow.parquet as pq

    return wall, pq.read_table(run_dir / name / "trials.parquet").to_pylist(), done.returncode


def _points(rows: list[dict], eer_key: str) -> list[tuple[str, float, float]]:
    return [(r["trial_id"], r[eer_key], r["onnx_latency_ms"]) for r in rows
            if r.get(eer_key) is not None and r.get("onnx_latency_ms") is not None]


def bench_search(trials: int, training: list[str], run_dir: Path) -> dict:
    modes = ("min", "min")
    mo_wall, mo_rows, mo_rc = run_search(run_dir, "multi", trials, ["--objective", "eer:min", "--objective",
                                                                      "onnx_latency_ms:min", *training])
    so_wall, so_rows, so_rc = run_search(run_dir, "single", trials, training)
    mo, so = _points(mo_rows, "objective_eer"), _points(so_rows, "best_eer")
    reference = (0.5, 1.1 * max(p[2] for p in mo + so))
    best_eer = min(p[1] for p in so)
    within = [p for p in so if p[1] <= best_eer + 0.01]
    so_pick = min(within, key=lambda p: p[2])
    mo_front = [mo[i] for i in pareto_front([p[1:] for p in mo], modes)]
    mo_knee = mo[knee([p[1:] for p in mo], modes)]
    mo_best = min(mo, key=lambda p: (p[1], p[2]))  # ties on EER: the faster, as the product's pick rule

    def show(p):
        return {"trial": p[0], "val_eer": p[1], "onnx_latency_ms": p[2]}

    result = {
        "trials": trials, "training_flags": training, "reference_point": {"eer": reference[0], "onnx_latency_ms": reference[1]},
        "multi_objective": {"wall_s": mo_wall, "exit": mo_rc, "hypervolume": hypervolume_2d([p[1:] for p in mo], modes, reference),
                            "front": [show(p) for p in sorted(mo_front, key=lambda p: p[2])],
                            "pick_best": show(mo_best), "pick_knee": show(mo_knee)},
        "single_objective_then_fastest_within_1pt": {
            "wall_s": so_wall, "exit": so_rc, "hypervolume": hypervolume_2d([p[1:] for p in so], modes, reference),
            "front": [show(so[i]) for i in pareto_front([p[1:] for p in so], modes)], "pick": show(so_pick)},
    }
    for label, key in (("multi-objective", "multi_objective"), ("single + fastest within 1 pt", "single_objective_then_fastest_within_1pt")):
        entry = result[key]
        print(f"{label}: {trials} trials in {entry['wall_s']:.0f} s, hypervolume {entry['hypervolume']:.4f} "
              f"(reference eer 0.5, latency {reference[1]:.4f} ms), front {len(entry['front'])} trials", flush=True)
    print("  multi-objective front (eer, ms): " + ", ".join(f"({p['val_eer']:.3f}, {p['onnx_latency_ms']:.4f})"
                                                             for p in result["multi_objective"]["front"]))
    print(f"  multi-objective picks: best eer {mo_best[1]:.3f} at {mo_best[2]:.4f} ms; knee eer {mo_knee[1]:.3f} at {mo_knee[2]:.4f} ms")
    print(f"  single-objective pick (fastest within 1 pt of eer {best_eer:.3f}): eer {so_pick[1]:.3f} at {so_pick[2]:.4f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("spread", "search"))
    parser.add_argument("--repeats", type=int, default=15, help="spread: measurements per model")
    parser.add_argument("--trials", type=int, default=16, help="search: trials per search")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--synthetic-per-class", type=int, default=60)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "deployment_cost.json"))
    args = parser.parse_args()
    results = {}
    if args.only in (None, "spread"):
        results["spread"] = bench_spread(args.repeats)
    if args.only in (None, "search"):
        training = ["--epochs", str(args.epochs), "--synthetic-per-class", str(args.synthetic_per_class), "--grace-period", "1"]
        with tempfile.TemporaryDirectory() as tmp:
            results["search"] = bench_search(args.trials, training, Path(tmp))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
