"""What the presentation-attack tasks (liveness, temporal) share: the config of a live/spoof data root,
its labelled splits, the PAD metrics at the validation threshold, and the evaluation template.

    data_root/{train,val,test}/{live,spoof}/   spoof/ may hold one subfolder per attack type

Scores are attack probabilities (higher = attack, faceauth.evaluation.metrics); the operating threshold is the
validation EER threshold (in the middle of the gap between the classes where the validation split
separates them: faceauth.evaluation.metrics.pad_threshold), stored in the checkpoint's metrics and fixed before
the test data is seen (ISO/IEC 30107-3: APCER and BPCER at a threshold chosen beforehand; `eer` and
`roc_auc` are threshold-free). A validation split with fewer than 20 attacks or bona fide samples
adds `threshold_warning` to those metrics and to the deployment section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, Optional

import numpy as np
import torch

from faceauth.tasks import pad_datasets
from faceauth.training.config import TrainConfig, check
from faceauth.io.errors import FaceauthError
from faceauth.training.fit import Objective
from faceauth.io.layout import UNTYPED_ATTACK
from faceauth.evaluation.metrics import PAD_KEYS, pad_metrics
from faceauth.tasks.protocols import builtin_protocol, materialise, scan_items
from faceauth.training.session import resolve_device
from faceauth.tasks.base import Evaluation, Task
from faceauth.tasks.lbp_baseline import DESCRIPTION as LBP_DESCRIPTION
from faceauth.tasks.lbp_baseline import SYSTEM as LBP_SYSTEM
from faceauth.tasks.lbp_baseline import lbp_baseline


@dataclass(frozen=True)
class PadConfig(TrainConfig):
    """Keys every presentation-attack task shares; a task's config subclasses it (and may change defaults)."""

    # Data: --synthetic, or data_root/{train,val,test}/{live,spoof}/, or a public dataset as it ships
    # (faceauth.tasks.pad_datasets): its layout detected ("auto") or named.
    synthetic: bool = False
    data_root: Optional[str] = None
    dataset: Literal["auto", "faceauth", "oulu-npu", "casia-fasd", "replay-attack", "celeba-spoof"] = "auto"
    # Caches (decoded images, frame features) and synthetic data live here, shared by every run on the node.
    cache_dir: str = "~/.cache/faceauth"
    # Synthetic data: items per class in train (val and test get half), how faint the attack cues
    # are (0 obvious .. 1 subtle), and its seed, kept apart from `seed` so that every trial of a
    # search sees the same data.
    synthetic_per_class: int = 200
    synthetic_difficulty: float = 0.5
    data_seed: int = 0
    # Weight the loss so live and spoof count equally whatever their numbers.
    balance_classes: bool = True
    # Where the standalone command writes the best model (as <task>_best.pth).
    output_dir: str = "checkpoints"
    # Evaluation protocol (faceauth.tasks.protocols): standard | leave-one-attack-out | leave-one-domain-out |
    # cross-dataset | a protocol YAML file; how the folds' validation figures become the one number a
    # search optimises; for cross-dataset, the data root whose test/ split is the test side.
    protocol: str = "standard"
    protocol_objective: Literal["worst", "mean", "mean_plus_std"] = "worst"
    test_data_root: Optional[str] = None
    # Synthetic data: camera domains (0: none, the flat layout) and attack types (0: the generator's default).
    synthetic_domains: int = 0
    synthetic_attack_types: int = 0

    output_name: ClassVar[str] = "pad_best.pth"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0.0 <= self.synthetic_difficulty <= 1.0, "synthetic_difficulty", "must lie in [0, 1]")
        check(0 <= self.synthetic_domains <= 6, "synthetic_domains", "must lie in 0..6 (0: no domain level)")
        check(0 <= self.synthetic_attack_types <= 4, "synthetic_attack_types", "must lie in 0..4 (0: the generator's default)")

    def output_path(self) -> Path:
        return Path(self.output_dir) / self.output_name


def data_root(config: PadConfig, task: str, items: str, layout: str, synthetic: Callable[[], Path]) -> Path:
    """The configured data_root, or the synthetic dataset (`synthetic()` draws it once into the cache)."""
    if config.synthetic == (config.data_root is not None):
        raise FaceauthError(f"{task}: choose one data source: --synthetic (generated {items}) or --data_root DIR"
                            + (" (both were given)" if config.synthetic else "") + f"; {layout}")
    if config.synthetic:
        return synthetic()
    root = Path(config.data_root).expanduser()
    if not root.is_dir():
        raise FaceauthError(f"{task} data_root {root} does not exist or is not a folder; {layout}")
    return root


def shipped_test_side(path: str | Path, cache_dir: str | Path) -> Path | None:
    """Test data given as a public dataset in its shipped layout (e.g. `--test-data /data/replayattack`):
    its own test side, laid out as a fold's data root of links (faceauth.tasks.protocols); None for any
    other folder."""
    path = Path(path).expanduser()
    if not path.is_dir() or pad_datasets.reader(path) is None:
        return None
    items = scan_items(path)
    fold = materialise(builtin_protocol("standard", items), items, cache_dir, source=path.resolve())[0]
    return fold.root / "test"


def pad_flags(items: str, layout: str, per_class: int, difficulty: float, caches: str,
              output_name: str) -> dict[str, dict[str, Any]]:
    """The flags of PadConfig's fields, worded for a task's `items` (images, videos)."""
    return {
        "output_dir": {"metavar": "DIR", "help": f"where {output_name} goes (default ./checkpoints)"},
        "synthetic": {"help": f"use generated {items} (no data needed)"},
        "data_root": {"metavar": "DIR", "help": f"DIR/{{train,val,test}}/{{live,spoof}}/ with {layout} (spoof/<attack type>/ "
                      "allowed), or OULU-NPU, CASIA-FASD, Replay-Attack or CelebA-Spoof as it ships"},
        "dataset": {"help": "the layout of --data-root: auto (detected; default), faceauth, oulu-npu, casia-fasd, "
                    "replay-attack or celeba-spoof"},
        "cache_dir": {"metavar": "DIR", "help": f"{caches} and synthetic data (default ~/.cache/faceauth)"},
        "synthetic_per_class": {"help": f"synthetic {items} per class in train; val and test get half (default {per_class})"},
        "synthetic_difficulty": {"help": f"synthetic data: 0 obvious .. 1 subtle attack cues (default {difficulty:g})"},
        "protocol": {"metavar": "NAME|FILE", "help": "evaluation protocol: standard, leave-one-attack-out, "
                     "leave-one-domain-out, cross-dataset, oulu-npu-1 .. oulu-npu-4 or a protocol YAML (default standard)"},
        "protocol_objective": {"help": "how the folds' validation figures are combined (default worst)"},
        "test_data_root": {"metavar": "DIR", "help": "cross-dataset: the second data root whose test/ split is the test side"},
        "synthetic_domains": {"help": "synthetic data: this many camera domains, one folder level above the splits "
                              "(default 0: none)"},
        "synthetic_attack_types": {"help": "synthetic data: attack types to draw (up to 4; default: the generator's)"},
    }


class AttackLabels:
    """For a split dataclass with `is_attack` (N,) bool and `attack_types` (N,) str arrays."""

    is_attack: np.ndarray
    attack_types: np.ndarray

    def attack_type_labels(self) -> np.ndarray | None:
        """One label per attack sample (for APCER per type), or None when attacks are not typed."""
        types = self.attack_types[self.is_attack]
        return types if (types != UNTYPED_ATTACK).any() else None

    def type_counts(self) -> dict[str, int]:
        names, counts = np.unique(self.attack_types[self.is_attack], return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

    def class_counts(self, unit: str = "") -> str:
        """"L live / S spoof[ unit] (type n, ...)", the types only when there are several."""
        live, spoof = int((~self.is_attack).sum()), int(self.is_attack.sum())
        types = self.type_counts()
        by_type = f" ({', '.join(f'{t} {n}' for t, n in types.items())})" if len(types) > 1 else ""
        return f"{live} live / {spoof} spoof{unit}{by_type}"


def split_metrics(split: AttackLabels, scores: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """PAD metrics of a split's scores (per attack type too when its attacks are typed); without a
    threshold, this split's EER threshold (right on validation only)."""
    return pad_metrics(scores[split.is_attack], scores[~split.is_attack], threshold, split.attack_type_labels())


def threshold_warning(checkpoint: Mapping[str, Any]) -> dict[str, str]:
    """`{"threshold_warning": ...}` for a deployment section when the checkpoint's validation threshold
    was chosen on few samples (faceauth.evaluation.metrics.pad_metrics), else nothing."""
    warning = checkpoint.get("metrics", {}).get("threshold_warning")
    return {"threshold_warning": str(warning)} if warning else {}


def threshold_logit(threshold: float) -> float:
    """The logit whose sigmoid is `threshold`: the same decision on the model's raw output."""
    return math.log(threshold / (1 - threshold)) if 0 < threshold < 1 else (math.inf if threshold >= 1 else -math.inf)


class PresentationAttackTask(Task):
    """A task that scores samples as bona fide or attack and is judged by ISO/IEC 30107-3 PAD metrics.

    Hooks beyond Task's: `test_split` (the test samples, and what baselines need), `attack_scores`
    (the model's attack probability per sample), `test_details`, and optionally `baselines`."""

    kind = "pad"
    metric_names = PAD_KEYS
    # EER rather than ACER: on the val split, where the threshold is chosen at the EER, ACER is the EER
    # up to ties, and the interpolated EER is the smoother signal for TPE and ASHA.
    objective = Objective("eer", "min")
    data_keys = ("data_root",)
    system: ClassVar[str]  # the model's name in evaluations

    def evaluate(self, checkpoint: Mapping[str, Any], test_data: str | None = None, split_name: str = "test") -> Evaluation:
        """`test_data` is a folder with live/ and spoof/ (a test split), or a data_root (its test/ is
        used); without it, the test split of the data the checkpoint was trained on. `split_name="val"`:
        the validation split instead (an operating point is chosen there)."""
        config = self.config(checkpoint["config"], "checkpoint config")
        if "threshold" not in checkpoint.get("metrics", {}):
            raise FaceauthError("the checkpoint holds no validation threshold (metrics.threshold); re-train it with faceauth.train")
        split, context = self.test_split(config, checkpoint, test_data, split_name)
        device = resolve_device("auto")
        scores = self.attack_scores(self.load_model(checkpoint).to(device), split, checkpoint["model_args"], device)
        threshold = float(checkpoint["metrics"]["threshold"])
        metrics = {self.system: split_metrics(split, scores, threshold)}
        system_scores = {self.system: (scores[split.is_attack], scores[~split.is_attack])}
        details = self.test_details(checkpoint, split, threshold)
        baselines, note = self.baselines(split, context)
        baselines[LBP_SYSTEM] = lbp_baseline(*self.lbp_features(config, split, context), split.attack_type_labels())
        note = "; ".join(n for n in (LBP_DESCRIPTION, note) if n)
        for name, (baseline, baseline_scores) in baselines.items():
            metrics[name] = baseline
            system_scores[name] = (baseline_scores[split.is_attack], baseline_scores[~split.is_attack])
        details["baselines"] = note
        return Evaluation(metrics, system_scores, details, self.score_groups(split), split.attack_type_labels())

    def protocol_data(self, config: PadConfig) -> Path:
        """The data root a protocol's folds are cut from (faceauth.tasks.protocols): the configured one, or the
        synthetic data drawn with the config's domains and attack types."""
        raise NotImplementedError

    # --- hooks --------------------------------------------------------------------------------------

    def test_split(self, config: PadConfig, checkpoint: Mapping[str, Any], test_data: str | None,
                   split_name: str = "test") -> tuple[Any, Any]:
        """The test split (an AttackLabels dataclass; `split_name="val"`: the validation split) and
        whatever `baselines` needs (e.g. the training split)."""
        raise NotImplementedError

    def attack_scores(self, model: torch.nn.Module, split: Any, model_args: dict[str, Any],
                      device: torch.device) -> np.ndarray:
        """The model's attack probability per sample of `split`, float64."""
        raise NotImplementedError

    def test_details(self, checkpoint: Mapping[str, Any], split: Any, threshold: float) -> dict[str, Any]:
        raise NotImplementedError

    def baselines(self, split: Any, context: Any) -> tuple[dict[str, tuple[dict[str, float], np.ndarray]], str]:
        """Baseline name -> (metrics, attack scores per sample of `split`), and a line saying what they are."""
        return {}, ""

    def lbp_features(self, config: PadConfig, split: Any, context: Any) -> tuple[np.ndarray, ...]:
        """For the LBP baseline (faceauth.tasks.lbp_baseline): colour-LBP features and labels of the
        training side, the validation side and `split`: (train x, train y, val x, val y, test x, test y)."""
        raise NotImplementedError

    def score_groups(self, split: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """The independent unit of each attack and bona fide score, for a bootstrap; None: no verdict."""
        return None
