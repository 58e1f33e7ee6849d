"""Learned fusion against the classical ones, per synthetic regime: does the default run beat score
averaging, and by how much, on data it was not shaped for?

    python benchmarks/fusion_regimes.py [--regimes dominant warped ...] [--output benchmarks/results/fusion_regimes.json]

For each regime (faceauth/tasks/fusion/synthetic.py) the default `faceauth.train fusion` run (fusion_kind
mlp: the closed-form linear fusion chosen on the validation identities plus a residual MLP, refitted on
training + validation identities) and the closed-form linear fusion alone (fusion_kind linear) are
trained on the same identities; both are scored on the same held-out test identities beside score
averaging, embedding averaging (same-size models only) and the best single model. `room` is the linear
fusion's gain over score averaging: where it is near zero, no linear fusion has anything to add.
Differences carry the verdict's 95% bootstrap interval over test identities.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

METRIC = "tar_at_far_1e-3"


def run_regime(name: str, identities: int, images: int) -> dict:
    from faceauth.workflows.config import resolve_config
    from faceauth.evaluation.metrics import verification_metrics
    from faceauth.workflows.train import train_once
    from faceauth.tasks import get_task
    from faceauth.tasks.fusion.data import load_splits, verification_pairs
    from faceauth.tasks.fusion.model import pair_scores

    task = get_task("fusion")
    row: dict = {"regime": name}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("mlp", "linear"):
            config = resolve_config(task, None, {"synthetic": True, "synthetic_regime": name, "fusion_kind": kind,
                                                 "num_identities": identities, "samples_per_id": images,
                                                 "log_dir": tmp, "output": f"{tmp}/{kind}.pth"})
            started = time.perf_counter()
            result = train_once(task, config, verbose=False)
            evaluation, verdict = result["evaluation"], result["verdict"]
            label = "fused" if kind == "mlp" else "linear"
            row[label] = evaluation.model_metrics[METRIC]
            row[f"{label}_vs_score_average"] = verdict["baselines"]["score_average"]
            row[f"{label}_best_epoch"] = result["checkpoint"]["epoch"]
            row[f"{label}_wall_s"] = time.perf_counter() - started
            row[f"{label}_chosen"] = result["checkpoint"]["model_args"]["linear"]
        row["score_average"] = evaluation.metrics["score_average"][METRIC]
        row["embedding_average"] = evaluation.metrics.get("embedding_average", {}).get(METRIC)
        row["test_identities"] = evaluation.details["identities"]
        test = load_splits(config)["test"]
        first, second, genuine = verification_pairs(test.labels, config.max_impostor_pairs, config.data_seed)
        singles = []
        for part in test.per_model():
            part = part / np.linalg.norm(part, axis=1, keepdims=True)
            s = pair_scores(part, first, second)
            singles.append(verification_metrics(s[genuine], s[~genuine])[METRIC])
        row["best_single"] = max(singles)
        row["room"] = row["linear"] - row["score_average"]
    return row


def table(rows: list[dict]) -> str:
    def ci(entry: dict) -> str:
        low, high = entry["ci95"]
        return f"{100 * entry['difference']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"

    lines = ["| regime | test ids | fused (default run) | linear (closed form) | score average | embedding average | "
             "best single | fused - score avg, points [95% CI] | room (linear - score avg) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        emb = "–" if r["embedding_average"] is None else f"{r['embedding_average']:.3f}"
        lines.append(f"| {r['regime']} | {r['test_identities']} | {r['fused']:.3f} | {r['linear']:.3f} | {r['score_average']:.3f} | "
                     f"{emb} | {r['best_single']:.3f} | {ci(r['fused_vs_score_average'])} | {100 * r['room']:+.1f} |")
    return "\n".join(lines)


def main() -> None:
    from faceauth.tasks.fusion.synthetic import REGIMES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--identities", type=int, default=400, help="identities of regimes without their own count (default 400)")
    parser.add_argument("--images", type=int, default=10, help="images per identity, likewise (default 10)")
    parser.add_argument("--output", default="benchmarks/results/fusion_regimes.json")
    args = parser.parse_args()
    rows = []
    for name in args.regimes:
        rows.append(run_regime(name, args.identities, args.images))
        print(f"{name}: fused {rows[-1]['fused']:.3f}  linear {rows[-1]['linear']:.3f}  score average {rows[-1]['score_average']:.3f}"
              f"  ({rows[-1]['fused_wall_s']:.0f} s)", flush=True)
    print()
    print(f"TAR at FAR=1e-3 on the test identities of each regime (default config, {METRIC}):")
    print(table(rows))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(rows, indent=2, default=float))
    print(f"\nwritten to {output}")


if __name__ == "__main__":
    main()
