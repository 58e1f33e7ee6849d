"""The fusion task: merges the embeddings of several face-recognition models into one (verification).

    python -m faceauth.train fusion --synthetic --epochs 30

Training (the hooks of faceauth.tasks.base.Task): the linear fusion is chosen in closed form on the
validation identities (training.py), then for fusion_kind mlp a residual MLP trains on top; it replaces
the linear fusion only where it beats it on the validation identities beyond the noise. Evaluation:
the model beside score and embedding averaging (baselines.py) on the same test pairs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from faceauth.training import session as sessions
from faceauth.training.checkpoint import make_checkpoint
from faceauth.io.errors import FaceauthError
from faceauth.training.fit import Objective
from faceauth.evaluation.metrics import MIN_IMPOSTORS_BEYOND, VERIFICATION_KEYS, enough_impostors, verification_metrics
from faceauth.io.runlog import seed_everything
from faceauth.tasks import register
from faceauth.tasks.base import DataOption, Evaluation, OnnxSpec, Task, TrainingRun
from faceauth.tasks.fusion import linear
from faceauth.tasks.fusion.baselines import baseline_embeddings
from faceauth.tasks.fusion.benchmark_scores import evaluate_benchmarks
from faceauth.tasks.fusion.benchmarks import check_benchmarks
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.tasks.fusion.data import load_splits, load_test_data, merge, normalized_concat, verification_pairs
from faceauth.tasks.fusion.model import FusionModel, build_model, embed, pair_scores
from faceauth.tasks.fusion.synthetic import REGIMES
from faceauth.tasks.fusion.training import FusionTraining, choose_linear_fusion, clearly_beats, pair_groups


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


@register
class FusionTask(Task):
    name = "fusion"
    description = "fusion MLP over several face-recognition embeddings (verification)"
    config_cls = FusionConfig
    objective = Objective("tar_at_far_1e-3", "max")
    metric_names = VERIFICATION_KEYS
    kind = "verification"
    data_keys = ("embeddings", "data_dir")
    smoke = {"epochs": 2, "max_steps_per_epoch": 3, "num_identities": 40, "samples_per_id": 6}
    verdict_advice = ("Score averaging needs no training: deploy it, or try --fusion-kind linear (closed form only), more "
                      "training identities, or a search (faceauth.tune fusion) over the fusion kind and its regularisation.")
    generator_help = "face-recognition embeddings of several models, train.parquet + test.parquet"
    generator_out_dir = "where train.parquet and test.parquet go"
    generator_options = {
        "regime": DataOption(str, "default", "the kind of data: " + "; ".join(f"{n}: {r.description}" for n, r in REGIMES.items()),
                             tuple(REGIMES)),
        "identities": DataOption(int, 300, "training identities"),
        "test_identities": DataOption(int, 100, "test identities, none of them in train.parquet"),
        "images": DataOption(int, 10, "images per identity"),
        "seed": DataOption(int, 0, "the generator's seed"),
    }
    flags = {
        "synthetic": {"help": "use generated embeddings (no data needed)"},
        "embeddings": {"type": absolute_path, "metavar": "FILE",
                       "help": "Parquet file: an identity column and one list column per model"},
        "data_dir": {"type": absolute_path, "metavar": "DIR",
                     "help": "face images as DIR/person_id/image.jpg, embedded by the --embedder models (cached)"},
        "embedders": {"flag": "embedder", "action": "append", "type": absolute_embedder, "metavar": "NAME=MODEL.onnx",
                      "help": "an ONNX face-recognition model, once per model, e.g. arcface=arcface.onnx; settings may "
                              "follow: ,input_size=112,channel_order=bgr,mean=127.5,std=128 (replaces the config's embedders)"},
        "cache_dir": {"type": absolute_path, "metavar": "DIR",
                      "help": "where image embeddings are cached (default DATA_DIR/.faceauth-cache)"},
        "benchmarks": {"flag": "benchmark", "action": "append", "type": absolute_path, "metavar": "BENCHMARK",
                       "help": "a verification benchmark for the test figures, once per benchmark: an insightface .bin "
                               "(lfw.bin, cfp_fp.bin, agedb_30.bin, ...), an LFW folder holding pairs.txt, or a pairs.txt; "
                               "embedded by the --embedder models, never used for training or selection"},
        "skip_corrupt": {"help": "leave out and list unreadable images and identities with one image, instead of stopping"},
        "test_data": {"type": absolute_path, "metavar": "PATH",
                      "help": "test identities kept apart (a Parquet file like --embeddings, or an image folder with "
                              "--data_dir); when given, no test split is carved out of the training data"},
        "fusion_kind": {"help": "score_average (no training), linear (closed form, chosen on validation) or mlp "
                                "(linear + a trained residual MLP; default)"},
        "refit": {"help": "export the model as selected, not refitted on the training + validation identities together"},
        "synthetic_regime": {"choices": tuple(REGIMES), "help": "with --synthetic: the kind of generated data (default 'default')"},
        "num_identities": {"help": "synthetic identities (default 200)"},
        "samples_per_id": {"help": "synthetic samples per identity (default 20)"},
        "loss": {"help": "metric-learning loss (default contrastive)"},
        "margin": {"help": "the loss's margin (default 0.5)"},
        "output": {"metavar": "PATH", "help": "where the best model goes (default weights/fusion_mlp.pth)"},
    }

    def prepare(self, cfg: FusionConfig, session: sessions.Session) -> TrainingRun:
        check_benchmarks(cfg.benchmarks)  # a damaged benchmark is named before training, not after
        splits = load_splits(cfg)
        train, val = splits["train"], splits["val"]
        first, second, genuine = verification_pairs(val.labels, cfg.max_impostor_pairs, cfg.data_seed)
        fusion, selection = choose_linear_fusion(cfg, train, val, (first, second, genuine))
        run = FusionTraining(cfg, session, train, fusion, session.device(cfg.device))
        run.args["linear_selection"] = selection
        x_val = torch.from_numpy(val.embeddings)
        groups = pair_groups(val.labels, (first, second, genuine))
        seen: list[tuple[np.ndarray, np.ndarray]] = []  # the start's validation scores, then the latest epoch's

        def validate() -> dict[str, float]:
            scores = pair_scores(embed(run.model, x_val, run.device), first, second)
            seen[1:] = [(scores[genuine], scores[~genuine])]
            return verification_metrics(scores[genuine], scores[~genuine])

        # The residual MLP replaces the linear fusion it starts from only where it beats it on the
        # validation identities beyond the noise (small validation sets make lucky epochs).
        return TrainingRun(model=run.model, model_args=run.args, validate=validate, optimizer=run.optimizer,
                           train_epoch=run.train_epoch if cfg.fusion_kind == "mlp" else None,
                           extra_modules={"loss": run.loss_fn}, validate_start=True,
                           beats_start=lambda: clearly_beats(seen[-1], seen[0], groups))

    def refit(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """The selected model fitted again on the training and validation identities together: the same
        linear candidate (kind, shrinkage) and, for an MLP kept at epoch E > 0, E epochs of training with
        the same settings and seed. There is nothing left to validate on: the figures that chose these
        settings stay the selection's (`checkpoint["metrics"]`, on the validation identities)."""
        cfg = self.config(checkpoint["config"], "checkpoint config")
        seed_everything(cfg.seed)
        splits = load_splits(cfg)
        data = merge(splits["train"], splits["val"])
        chosen = checkpoint["model_args"]["linear"]
        fusion = linear.refit(chosen["kind"], chosen["shrinkage"], normalized_concat(data), data.labels, cfg.out_dim)
        epochs = int(checkpoint["epoch"]) if cfg.fusion_kind == "mlp" else 0
        run = FusionTraining(cfg, sessions.LocalSession(), data, fusion, torch.device("cpu"))
        run.model.train()
        for epoch in range(1, epochs + 1):
            run.train_epoch(epoch)
        run.model.eval()
        run.args["linear_selection"] = checkpoint["model_args"].get("linear_selection", {})
        run.args["refit"] = {"identities": int(len(data.identities)), "samples": int(len(data)), "epochs": epochs,
                             "from": "train + val identities"}
        return make_checkpoint(self.name, run.args, run.model, config=checkpoint["config"], epoch=checkpoint["epoch"],
                               best=checkpoint["best"], metrics=checkpoint["metrics"])

    def finalize(self, checkpoint: dict[str, Any]) -> tuple[dict[str, Any], Evaluation, dict[str, Any] | None]:
        """The template's finish, then the benchmarks (test figures only) scored by the finished model."""
        checkpoint, evaluation, verdict = super().finalize(checkpoint)
        cfg = self.config(checkpoint["config"], "checkpoint config")
        if cfg.benchmarks:
            evaluation.benchmarks = evaluate_benchmarks(self.load_model(checkpoint), checkpoint["model_args"], cfg.benchmarks,
                                                        cfg.embedder_specs(), cfg.cache_dir, cfg.embed_batch_size)
        return checkpoint, evaluation, verdict

    def build_model(self, model_args: dict[str, Any]) -> FusionModel:
        return build_model(model_args)

    def evaluate(self, checkpoint: dict[str, Any], test_data: str | None = None, split_name: str = "test") -> Evaluation:
        """`test_data`: a Parquet file of embeddings whose identities are all test identities; without
        it, the config's test_data, else the test split of the data the checkpoint was trained on.
        `split_name="val"`: the validation identities instead (an operating point is chosen there)."""
        config = self.config(checkpoint["config"], "checkpoint config")
        if test_data is None or split_name != "test":
            data = load_splits(config)[split_name]
        else:  # the columns the model was trained on, in its order
            data = load_test_data(replace(config, embedding_columns=tuple(checkpoint["model_args"]["model_names"])), test_data)
        expected = tuple(checkpoint["model_args"]["input_dims"])
        if data.model_dims != expected:
            raise FaceauthError(f"{data.source}: embedding sizes {data.model_dims} do not match the model's {expected}")
        first, second, genuine = verification_pairs(data.labels, config.max_impostor_pairs, config.data_seed)
        model = self.load_model(checkpoint)
        systems = {"fused": embed(model, data.embeddings, torch.device("cpu")).numpy(), **baseline_embeddings(data)}
        metrics, scores = {}, {}
        for name, embeddings in systems.items():
            s = pair_scores(embeddings, first, second)
            scores[name] = (s[genuine], s[~genuine])
            metrics[name] = verification_metrics(*scores[name], low_far=True)
        pair_identities = np.stack([data.labels[first], data.labels[second]], axis=1)
        details = {
            "data": data.source,
            "identities": int(len(data.identities)),
            "samples": int(len(data)),
            "genuine_pairs": int(genuine.sum()),
            "impostor_pairs": int((~genuine).sum()),
            "impostor_sampling": f"uniform random sample of at most {config.max_impostor_pairs} impostor pairs, "
                                 f"seed {config.data_seed}",
            "bootstrap_unit": "identities",
            "bootstrap_units": int(len(data.identities)),
            "model_fitted_on": (f"training + validation identities ({checkpoint['model_args']['refit']['identities']})"
                                if "refit" in checkpoint["model_args"] else "training identities"),
        }
        if not enough_impostors(int((~genuine).sum()), 1e-4):
            details["tar_at_far_1e-4"] = (f"not enough impostor pairs: {int((~genuine).sum())}, TAR at FAR=1e-4 needs "
                                          f"{int(MIN_IMPOSTORS_BEYOND / 1e-4)} (10 beyond the threshold)")
        return Evaluation(metrics, scores, details, groups=(pair_identities[genuine], pair_identities[~genuine]))

    def onnx_spec(self, model_args: dict[str, Any]) -> OnnxSpec:
        return OnnxSpec(
            input_names=("embeddings",),
            output_names=("fused_embedding",),
            dynamic_axes={"embeddings": {0: "batch"}},
            example_inputs=lambda batch, check: (torch.randn(batch, model_args["in_dim"]),),
        )

    def check_data(self, config: FusionConfig) -> str:
        splits = load_splits(config)
        check_benchmarks(config.benchmarks)
        summary = ", ".join(f"{name} {len(split.identities)} identities / {len(split)} samples" for name, split in splits.items())
        return summary + "".join(f"; benchmark {Path(path).name}" for path in config.benchmarks)

    def deployment_info(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
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
            **self.shape_notes(checkpoint),
        }

    def shape_notes(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Where the model's output size is not the `out_dim` asked for, the size it has and why: the linear
        fusion the model starts from decides it."""
        asked, has = (checkpoint.get("config") or {}).get("out_dim"), checkpoint["model_args"]["out_dim"]
        kind = checkpoint["model_args"].get("linear", {}).get("kind")
        if asked is None or asked == has:
            return {}
        why = {"lda": "LDA keeps at most one direction fewer than the training identities (and only directions that "
                      "separate them)", "whiten": "whitening keeps every input direction",
               "score_average": "score averaging keeps the concatenated input"}.get(kind, "the linear fusion sets it")
        return {"shape_notes": {"out_dim": f"asked {asked}; the model's output is {has}-d: {why}"}}

    def write_synthetic(self, out_dir: str, options: Mapping[str, Any]) -> list[Path]:
        from faceauth.tasks.fusion.synthetic import regime, write_dataset

        if options["identities"] < 6 or options["test_identities"] < 2 or options["images"] < 2:
            raise FaceauthError("--identities must be at least 6, --test-identities at least 2 and --images at least 2")
        return write_dataset(out_dir, regime(options["regime"]), options["identities"], options["test_identities"],
                             options["images"], options["seed"])
