"""Liveness on protocols: does the default CNN earn its cost over the LBP baseline once an attack or a
camera is unseen, and does searching on the worst fold pick a model that holds up on an unseen attack?

    python benchmarks/liveness_protocols.py [--per-class 48] [--epochs 8] [--trials 4]   # JSON: benchmarks/results/

Generated data (faceauth.tasks.liveness.synthetic): 3 camera domains, 4 attack types (print, replay,
mask, cutout), `--per-class` images per class and domain in train, half in val and test.

Part 1, protocols: the default liveness CNN (`faceauth.train liveness` defaults, `--epochs` epochs)
and the colour-texture LBP + logistic-regression baseline, each fold fitted on its train side and
thresholded at its val EER, under `standard`, `leave-one-attack-out` and `leave-one-domain-out`.
Prints per fold the test HTER of both with 95% bootstrap intervals over images, and the worst fold.

Part 2, selection (`--trials` > 0): the cutout attack is taken out of the data; on what is left (the
3-attack data of the first camera domain) two searches of `--trials` trials each choose
hyperparameters, one on the standard split (val EER), one on leave-one-attack-out (the worst fold's
val EER). Each chosen config is trained once more on the full 3-attack training split and scored on
the held-out cutout attack (with the same bona fide test images): EER and HTER with intervals, and
the difference between the two with its 95% bootstrap interval.
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


def part_protocols(data: Path, work: Path, epochs: int, seed: int) -> dict:
    from faceauth.training.config import build_config
    from faceauth.workflows.protocols import train_protocol
    from faceauth.tasks import get_task

    task = get_task("liveness")
    results = {}
    for protocol in ("standard", "leave-one-attack-out", "leave-one-domain-out"):
        started = time.perf_counter()
        config = build_config(task.config_cls, {
            "data_root": str(data), "protocol": protocol, "epochs": epochs, "seed": seed, "cache_dir": str(work / "cache"),
            "output_dir": str(work / protocol), "log_dir": str(work / "logs")})
        run = train_protocol(task, config)
        folds = {}
        for name, fold in run["folds"].items():
            folds[name] = {system: {"hter": metrics["hter"], "eer": metrics["eer"],
                                    "hter_ci95": fold["ci95"].get(system, {}).get("hter"),
                                    "apcer_worst": metrics.get("apcer_worst")}
                           for system, metrics in {"model": fold["test"], **fold["test_baselines"]}.items()}
            folds[name]["verdict"] = fold["verdict"]["summary"] if fold.get("verdict") else None
        results[protocol] = {"folds": folds, "worst_hter": {"model": run["aggregate"]["test"]["hter"],
                                                            **{s: m["hter"] for s, m in run["aggregate"]["test_baselines"].items()}},
                             "wall_time_s": time.perf_counter() - started}
        print(f"\n== {protocol} ({results[protocol]['wall_time_s']:.0f}s)")
        for name, fold in folds.items():
            print(f"  {name:16s} " + "  ".join(f"{s} HTER {v['hter']:.3f} [{_ci(v['hter_ci95'])}]"
                                                for s, v in fold.items() if s != "verdict"))
        print("  worst fold      " + "  ".join(f"{s} {v:.3f}" for s, v in results[protocol]["worst_hter"].items()), flush=True)
    return results


def _ci(interval) -> str:
    return "n/a" if not interval else f"{interval[0]:.3f}, {interval[1]:.3f}"


def part_selection(data: Path, work: Path, epochs: int, trials: int, seed: int) -> dict:
    """Two searches on the 3-attack data; each winner retrained and scored on the unseen cutout attack."""
    from faceauth import tune as tune_cli
    from faceauth.training.config import build_config
    from faceauth.workflows.train import train_once
    from faceauth.tasks.protocols import Fold, Protocol, Side, materialise, scan_items
    from faceauth.tasks import Evaluation, get_task
    from faceauth.evaluation.verdict import build_verdict, metric_intervals

    task = get_task("liveness")
    seen = ("mask", "print", "replay")
    camera = ("cam_a",)
    protocol = Protocol("selection", (
        Fold("seen", Side(("train",), seen, camera), Side(("val",), seen, camera), Side(("test",), seen, camera)),
        Fold("heldout", Side(("train",), seen, camera), Side(("val",), seen, camera), Side(("test",), ("cutout",), camera)),
    ))
    seen_fold, heldout_fold = materialise(protocol, scan_items(data), work / "cache")
    chosen = {}
    for label, extra in (("standard_selected", []), ("worst_fold_selected", ["--protocol", "leave-one-attack-out"])):
        name = f"search-{label}"
        code = tune_cli.main(["liveness", "--data-root", str(seen_fold.root), "--trials", str(trials), "--epochs", str(epochs),
                              "--grace-period", "2", "--num-cpus", "2", "--max-concurrent", "1", "--no-dashboard", "--seed", str(seed),
                              "--storage", str(work / "runs"), "--name", name, "--cache-dir", str(work / "cache"),
                              "--log-dir", str(work / "logs"), *extra])
        if code != 0:
            raise SystemExit(f"search {label} failed ({code})")
        config = yaml.safe_load((work / "runs" / name / "best" / "config.yaml").read_text())
        config.pop("task", None)
        config.update({"protocol": "standard", "data_root": str(seen_fold.root), "output_dir": str(work / label)})
        chosen[label] = config
    evaluations = {}
    for label, values in chosen.items():
        result = train_once(task, build_config(task.config_cls, values), verbose=False)
        evaluations[label] = task.evaluate(result["checkpoint"], str(heldout_fold.root / "test"))
    first = evaluations["worst_fold_selected"]
    other = evaluations["standard_selected"]
    model_name = next(iter(first.metrics))
    combined = Evaluation(
        {"worst_fold_selected": first.metrics[model_name], "standard_selected": other.metrics[model_name],
         "lbp_logreg": first.metrics["lbp_logreg"]},
        {"worst_fold_selected": first.scores[model_name], "standard_selected": other.scores[model_name],
         "lbp_logreg": first.scores["lbp_logreg"]},
        first.details, first.groups, first.attack_types)
    verdict = build_verdict(combined, task.objective)
    intervals = metric_intervals(combined, ["eer", "hter"])
    summary = {label: {"eer": combined.metrics[label]["eer"], "hter": combined.metrics[label]["hter"],
                       "ci95": intervals[label], "hyperparameters": {k: chosen[label][k] for k in ("lr", "width", "depth", "dropout",
                                                                                                  "augment_strength", "image_size")
                                                                     if label in chosen}}
               for label in combined.metrics}
    print("\n== selection: scored on the unseen cutout attack")
    for label, entry in summary.items():
        print(f"  {label:20s} EER {entry['eer']:.3f} [{_ci(entry['ci95']['eer'])}]  HTER {entry['hter']:.3f} [{_ci(entry['ci95']['hter'])}]")
    print("  " + verdict["summary"], flush=True)
    return {"systems": summary, "difference": verdict["baselines"], "summary": verdict["summary"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--trials", type=int, default=4, help="trials per search in part 2 (0: skip part 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-protocols", action="store_true", help="part 2 only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "liveness_protocols.json"))
    args = parser.parse_args(argv)

    from faceauth.tasks.liveness.synthetic import SyntheticSpec, write_dataset

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write_dataset(work / "data", SyntheticSpec(per_class=args.per_class, attack_types=4, domains=3, seed=args.seed),
                             quiet=True)
        results = {"per_class": args.per_class, "epochs": args.epochs, "trials": args.trials, "seed": args.seed,
                   "data": "synthetic liveness, 3 camera domains, 4 attack types, 64 px"}
        if not args.skip_protocols:
            results["protocols"] = part_protocols(data, work, args.epochs, args.seed)
        if args.trials:
            results["selection"] = part_selection(data, work, args.epochs, args.trials, args.seed)
    results["wall_time_s"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwrote {args.out} ({results['wall_time_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
