"""Fusion MLP: merges the embeddings of several face-recognition models into one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from faceauth.metrics import VERIFICATION_KEYS
from faceauth.tasks import register
from faceauth.tasks.base import OnnxSpec, Task
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.tasks.fusion.data import load_splits
from faceauth.tasks.fusion.evaluate import evaluate_checkpoint
from faceauth.tasks.fusion.synthetic import REGIMES
from faceauth.tasks.fusion.train import OBJECTIVE, build_model, refit, train_loop


def onnx_spec(model_args: dict[str, Any]) -> OnnxSpec:
    return OnnxSpec(
        input_names=("embeddings",),
        output_names=("fused_embedding",),
        dynamic_axes={"embeddings": {0: "batch"}},
        example_inputs=lambda batch, check: (torch.randn(batch, model_args["in_dim"]),),
    )


def absolute_path(path: str) -> str:
    """Ray Tune runs each trial in its own folder, where a relative path from the command line would
    point elsewhere: path flags are made absolute where they are read."""
    return str(Path(path).expanduser().absolute())


def absolute_embedder(text: str) -> str:
    """NAME=MODEL.onnx[,settings] with the model's path made absolute; a malformed entry is left for
    FusionConfig to report."""
    name, sep, rest = text.partition("=")
    path, comma, settings = rest.partition(",")
    return f"{name}={absolute_path(path)}{comma}{settings}" if sep and path else text


def add_cli_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--synthetic", action="store_true", default=argparse.SUPPRESS, help="use generated embeddings (no data needed)")
    add("--embeddings", type=absolute_path, metavar="FILE", default=argparse.SUPPRESS, help="Parquet file: an identity column and one list column per model")
    add("--data_dir", "--data-dir", type=absolute_path, metavar="DIR", default=argparse.SUPPRESS,
        help="face images as DIR/person_id/image.jpg, embedded by the --embedder models (cached)")
    add("--embedder", dest="embedders", action="append", type=absolute_embedder, metavar="NAME=MODEL.onnx",
        default=argparse.SUPPRESS, help="an ONNX face-recognition model, once per model, e.g. arcface=arcface.onnx; "
        "settings may follow: ,input_size=112,channel_order=bgr,mean=127.5,std=128 (replaces the config's embedders)")
    add("--cache_dir", "--cache-dir", type=absolute_path, metavar="DIR", default=argparse.SUPPRESS,
        help="where image embeddings are cached (default DATA_DIR/.faceauth-cache)")
    add("--skip_corrupt", "--skip-corrupt", action="store_true", default=argparse.SUPPRESS,
        help="leave out and list unreadable images and identities with one image, instead of stopping")
    add("--test_data", "--test-data", type=absolute_path, metavar="PATH", default=argparse.SUPPRESS,
        help="test identities kept apart (a Parquet file like --embeddings, or an image folder with --data_dir); "
             "when given, no test split is carved out of the training data")
    add("--fusion_kind", "--fusion-kind", dest="fusion_kind", choices=("score_average", "linear", "mlp"), default=argparse.SUPPRESS,
        help="score_average (no training), linear (closed form, chosen on validation) or mlp (linear + a trained "
             "residual MLP; default)")
    add("--no_refit", "--no-refit", dest="refit", action="store_false", default=argparse.SUPPRESS,
        help="export the model as selected, not refitted on the training + validation identities together")
    add("--synthetic_regime", "--synthetic-regime", choices=tuple(REGIMES), default=argparse.SUPPRESS,
        help="with --synthetic: the kind of generated data (default 'default')")
    add("--num_identities", "--num-identities", type=int, default=argparse.SUPPRESS, help="synthetic identities (default 200)")
    add("--samples_per_id", "--samples-per-id", type=int, default=argparse.SUPPRESS, help="synthetic samples per identity (default 20)")
    add("--loss", choices=("contrastive", "triplet", "arcface"), default=argparse.SUPPRESS, help="metric-learning loss (default contrastive)")
    add("--margin", type=float, default=argparse.SUPPRESS, help="the loss's margin (default 0.5)")
    add("--output", metavar="PATH", default=argparse.SUPPRESS, help="where the best model goes (default weights/fusion_mlp.pth)")


def deployment_info(checkpoint: dict[str, Any]) -> dict[str, Any]:
    args = checkpoint["model_args"]
    chosen = args.get("linear", {})
    shrinkage = chosen.get("shrinkage")
    return {
        "input": f"embeddings: float32 (batch, {args['in_dim']}), the models' raw embeddings concatenated in the order "
                 f"{', '.join(args['model_names'])} with sizes {args['input_dims']}; each part is L2-normalised inside the model",
        "output": f"fused_embedding: float32 (batch, {args['out_dim']}), L2-normalised; compare with the cosine (dot product)",
        "fusion": f"{args.get('fusion')}: linear part {chosen.get('kind')}"
                  + (f" (shrinkage {shrinkage:g})" if shrinkage is not None else "")
                  + (f" + residual MLP {args['hidden_sizes']}" if args.get("hidden_sizes") else ""),
        "fitted_on": (f"training + validation identities ({args['refit']['identities']})" if "refit" in args
                      else "training identities"),
    }


def check_data(config: FusionConfig) -> str:
    splits = load_splits(config)
    return ", ".join(f"{name} {len(split.identities)} identities / {len(split)} samples" for name, split in splits.items())


def _smoke(config: FusionConfig) -> dict[str, Any]:
    return {"epochs": 2, "max_steps_per_epoch": 3, "num_identities": 40, "samples_per_id": 6}


TASK = register(Task(
    name="fusion",
    description="fusion MLP over several face-recognition embeddings (verification)",
    config_cls=FusionConfig,
    train_loop=train_loop,
    build_model=build_model,
    evaluate=evaluate_checkpoint,
    onnx_spec=onnx_spec,
    objective=OBJECTIVE,
    metric_names=VERIFICATION_KEYS,
    check_data=check_data,
    data_keys=("embeddings", "data_dir"),
    add_cli_flags=add_cli_flags,
    deployment_info=deployment_info,
    smoke_overrides=_smoke,
    refit=refit,
    verdict_advice="Score averaging needs no training: deploy it, or try --fusion-kind linear (closed form only), more "
                   "training identities, or a search (faceauth.tune fusion) over the fusion kind and its regularisation.",
))
