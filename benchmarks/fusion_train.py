"""Speed of the default fusion run against a bare PyTorch loop over the same tensors and model.

    python benchmarks/fusion_train.py [--epochs 30] [--output benchmarks/results/fusion_train.json]

Each side runs in its own subprocess (so peak RSS is its own): `faceauth` is the standalone
`train_once` of the default synthetic config (200 identities x 20 samples) for the full epoch
count (patience 0, so it is not cut short by early stopping), validation and experiment log
included; `bare` is a plain loop (random batches, same model, loss and fused AdamW, no validation).
Targets on 2 CPU cores: wall < 30 s, peak RSS < 500 MB, samples/s >= 0.8 of the bare loop's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_faceauth(epochs: int) -> dict:
    started = time.perf_counter()
    from faceauth.workflows.config import resolve_config
    from faceauth.workflows.train import train_once
    from faceauth.tasks import get_task

    task = get_task("fusion")
    with tempfile.TemporaryDirectory() as tmp:
        config = resolve_config(task, None, {"synthetic": True, "epochs": epochs, "patience": 0,
                                             "log_dir": tmp, "output": f"{tmp}/model.pth"})
        result = train_once(task, config, verbose=False)
    wall = time.perf_counter() - started
    train_time = sum(h["epoch_time_s"] for h in result["history"])
    samples = len(result["history"]) * _train_samples(config)
    return {"wall_s": wall, "epochs": len(result["history"]), "train_samples": samples,
            "samples_per_s": samples / train_time, "samples_per_s_incl_startup": samples / wall,
            "best_val_tar_at_far_1e-3": result["checkpoint"]["metrics"]["tar_at_far_1e-3"]}


def _train_samples(config) -> int:
    from faceauth.tasks.fusion.data import load_splits

    return len(load_splits(config)["train"])


def run_bare(epochs: int) -> dict:
    started = time.perf_counter()
    import torch

    from faceauth.workflows.config import resolve_config
    from faceauth.training.losses import ContrastiveLoss
    from faceauth.tasks import get_task
    from faceauth.tasks.fusion.data import load_splits
    from faceauth.tasks.fusion.model import FusionModel

    config = resolve_config(get_task("fusion"), None, {"synthetic": True})
    train = load_splits(config)["train"]
    x, y = torch.from_numpy(train.embeddings), torch.from_numpy(train.labels)
    torch.manual_seed(0)
    # The same model shape as the default run: a frozen linear part (here the score-averaging identity)
    # and the residual MLP that training updates.
    model = FusionModel(train.model_dims, x.shape[1], config.hidden_sizes, config.dropout)
    model.set_linear(torch.zeros(x.shape[1]).numpy(), torch.eye(x.shape[1]).numpy())
    loss_fn = ContrastiveLoss(config.margin)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    loop_started = time.perf_counter()
    for _ in range(epochs):
        for index in torch.randperm(len(x)).split(config.batch_size):
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    train_time = time.perf_counter() - loop_started
    samples = epochs * len(x)
    return {"wall_s": time.perf_counter() - started, "epochs": epochs, "train_samples": samples,
            "samples_per_s": samples / train_time}


def measure(part: str, epochs: int) -> dict:
    """Run one side in a fresh interpreter; return its figures plus its peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, __file__, "--part", part, "--epochs", str(epochs)],
                         check=True, capture_output=True, text=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures["peak_rss_mb"] = max(peak_kb, before) / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--part", choices=("faceauth", "bare"))
    parser.add_argument("--output", default="benchmarks/results/fusion_train.json")
    args = parser.parse_args()
    if args.part:
        print(json.dumps(run_faceauth(args.epochs) if args.part == "faceauth" else run_bare(args.epochs)))
        return
    # Children's ru_maxrss is the max over all children so far: measure the smaller one (bare) first.
    bare = measure("bare", args.epochs)
    faceauth = measure("faceauth", args.epochs)
    result = {
        "bare": bare,
        "faceauth": faceauth,
        "samples_per_s_ratio": faceauth["samples_per_s"] / bare["samples_per_s"],
        "targets": {"wall_s": 30, "peak_rss_mb": 500, "samples_per_s_ratio": 0.8},
    }
    result["meets_targets"] = {
        "wall_s": faceauth["wall_s"] < 30,
        "peak_rss_mb": faceauth["peak_rss_mb"] < 500,
        "samples_per_s_ratio": result["samples_per_s_ratio"] >= 0.8,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
