"""Temporal liveness per synthetic regime: the temporal model against its time-blind baselines, on test videos.

    python benchmarks/temporal_regimes.py [--per-class 60] [--regimes no_static faint_small] [--seeds 0 1]
    python benchmarks/temporal_regimes.py --set key=value ...     # any TemporalConfig key, e.g. frame_features=handcrafted

For each regime of faceauth.tasks.temporal.synthetic.REGIMES (the tuning ones marked), the default
`faceauth.train temporal --synthetic --synthetic-regime NAME` run is trained and its test split
(`temporal_kind` lstm: the closed-form head on window statistics, plus the LSTM residual where it
beat that head on validation beyond the noise; `best_epoch` 0: the head alone was kept) evaluated
beside `time_blind_logreg` (frame features averaged over the clip, logistic regression)
and `frame_score_average`, fitted on the same training videos and thresholded at their own
validation EER. Prints test ACER and EER per system (mean over seeds) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_regime(regime: str, per_class: int, seed: int, overrides: dict, work: Path) -> dict:
    from faceauth.training.config import build_config
    from faceauth.workflows.train import train_once
    from faceauth.tasks import get_task
    from faceauth.tasks.temporal.config import TemporalConfig

    task = get_task("temporal")
    config = build_config(TemporalConfig, {
        "synthetic": True, "synthetic_regime": regime, "synthetic_per_class": per_class, "data_seed": seed,
        "seed": seed, "cache_dir": str(work / "cache"), "output_dir": str(work / f"out-{regime}-{seed}"),
        "log_dir": str(work / "logs"), **overrides}, "benchmark config")
    started = time.perf_counter()
    result = train_once(task, config, verbose=False)
    evaluation = task.evaluate(result["checkpoint"])
    return {"seconds": time.perf_counter() - started, "best_epoch": result["checkpoint"]["epoch"],
            "test": {name: {k: m[k] for k in ("acer", "eer", "roc_auc", "apcer", "bpcer")}
                     for name, m in evaluation.metrics.items()}}


def main(argv: list[str] | None = None) -> int:
    from faceauth.tasks.temporal.synthetic import REGIMES, TUNING_REGIMES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--per-class", type=int, default=60, help="training videos per class (val and test: half)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="data and training seeds")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="TemporalConfig overrides")
    parser.add_argument("--cache-dir", help="reuse generated videos and features (default: a temporary folder)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "temporal_regimes.json"))
    args = parser.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.cache_dir).expanduser() if args.cache_dir else Path(tmp)
        for regime in args.regimes:
            runs = [run_regime(regime, args.per_class, seed, overrides, work) for seed in args.seeds]
            systems = list(runs[0]["test"])
            mean = {s: {k: sum(r["test"][s][k] for r in runs) / len(runs) for k in ("acer", "eer", "roc_auc")}
                    for s in systems}
            rows[regime] = {"tuning": regime in TUNING_REGIMES, "mean": mean, "runs": runs, **REGIMES[regime]}
            model, blind = mean[systems[0]], mean["time_blind_logreg"]
            epochs = ",".join(str(r["best_epoch"]) for r in runs)
            print(f"{regime:<12} {'tuning' if regime in TUNING_REGIMES else 'held out':<9} "
                  + "  ".join(f"{s} ACER {m['acer']:.3f} EER {m['eer']:.3f}" for s, m in mean.items())
                  + f"  model-blind ACER {model['acer'] - blind['acer']:+.3f}  best epochs {epochs}", flush=True)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"per_class": args.per_class, "seeds": args.seeds, "overrides": overrides,
                               "regimes": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
