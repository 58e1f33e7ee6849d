"""The temporal evaluation's honest comparison: time-blind baselines fitted on the same training videos,
each at its own validation threshold, the video behind every score, test data given on its own, and
the synthetic regimes that take the static cues away."""

import numpy as np
import pytest
import torch
import yaml

from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.training.config import build_config
from faceauth.io.errors import FaceauthError
from faceauth.evaluation.metrics import pad_metrics, pad_threshold
from faceauth.tasks import get_task
from faceauth.tasks.temporal.baselines import clip_mean_scores, fit_logistic, fit_on_val
from faceauth.tasks.temporal.clip_head import L2_GRID as CLIP_L2_GRID
from faceauth.tasks.temporal.clip_head import fit_clip_head
from faceauth.tasks.temporal.config import TemporalConfig
from faceauth.tasks.temporal.data import VideoSet, feature_statistics
from faceauth.tasks.temporal.model import TemporalModel
from faceauth.tasks.pad import split_metrics, threshold_logit
from faceauth.tasks.temporal.model import video_scores
from faceauth.tasks.temporal.synthetic import HELD_OUT_REGIMES, REGIMES, TUNING_REGIMES, draw_clip, regime_spec, write_dataset

TINY = {"synthetic_per_class": 4, "synthetic_frames": 12, "synthetic_size": 32, "seq_len": 4, "frame_stride": 1,
        "hidden_size": 8, "epochs": 2, "batch_size": 8}


def test_logistic_regression_separates_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (50, 3)), rng.normal(0, 1, (50, 3)) + [2.0, 0, 0]])
    y = np.r_[np.zeros(50), np.ones(50)]
    a, b = fit_logistic(x, y, 0.1), fit_logistic(x, y, 0.1)
    assert np.array_equal(a.weights, b.weights) and a.weights[0] > 1.0 and abs(a.weights[1]) < 0.5
    assert pad_metrics(a.logits(x)[y > 0], a.logits(x)[y < 1])["roc_auc"] > 0.85


def test_clip_means_baseline_is_blind_to_frame_order():
    rng = np.random.default_rng(1)
    clips = [rng.normal(size=(10, 4)) + (i % 2) for i in range(20)]
    attack = np.array([i % 2 == 1 for i in range(20)])
    shuffled = [c[rng.permutation(10)] for c in clips]
    _, plain = clip_mean_scores(clips, attack, clips, attack, clips)
    _, reordered = clip_mean_scores(clips, attack, clips, attack, shuffled)
    assert np.allclose(plain, reordered)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    config = tmp / "cfg.yaml"
    config.write_text(yaml.safe_dump({"seed": 0, "temporal": TINY}))
    assert train_cli.main(["temporal", "--synthetic", "--config", str(config), "--cache-dir", str(tmp / "cache"),
                           "--output-dir", str(tmp / "out"), "--log-dir", str(tmp / "logs")]) == 0
    return load_checkpoint(tmp / "out" / "temporal_best.pth"), tmp


def test_evaluation_carries_baselines_with_their_own_val_thresholds_and_video_groups(trained):
    checkpoint, _ = trained
    evaluation = get_task("temporal").evaluate(checkpoint)
    assert list(evaluation.metrics) == ["temporal_model", "time_blind_logreg", "frame_score_average", "lbp_logreg"]
    assert all({"acer", "eer", "threshold"} <= set(m) for m in evaluation.metrics.values())
    attack_groups, bonafide_groups = evaluation.groups
    assert len(attack_groups) == 4 and len(bonafide_groups) == 4  # one score per test video
    assert sorted(np.r_[attack_groups, bonafide_groups].tolist()) == list(range(8))
    for name, (attack, bonafide) in evaluation.scores.items():
        assert len(attack) == len(attack_groups) and len(bonafide) == len(bonafide_groups), name
    # A baseline's threshold is its own, from validation: recompute it from the cached features.
    from faceauth.tasks.temporal.data import load_splits

    config = build_config(TemporalConfig, checkpoint["config"], "test")
    splits = load_splits(config)
    val_scores, _ = clip_mean_scores(splits["train"].features, splits["train"].is_attack, splits["val"].features,
                                     splits["val"].is_attack, splits["test"].features)
    val_attack = splits["val"].is_attack
    assert evaluation.metrics["time_blind_logreg"]["threshold"] == pytest.approx(
        pad_threshold(val_scores[val_attack], val_scores[~val_attack]))


def test_test_data_given_on_its_own_replaces_the_test_split(trained, tmp_path):
    checkpoint, tmp = trained
    other = write_dataset(tmp_path / "other", regime_spec("no_static", videos_per_class=4, seed=5), quiet=True)
    evaluation = get_task("temporal").evaluate(checkpoint, str(other))  # a data root: its test/ is used
    assert evaluation.details["data"] == str(other / "test") and len(evaluation.groups[0]) == 4
    config = build_config(TemporalConfig, {**checkpoint["config"], "test_data": str(other / "test")}, "test")
    assert get_task("temporal").check_data(config).count("test from") == 1
    with pytest.raises(FaceauthError, match="nowhere"):
        get_task("temporal").evaluate(checkpoint, str(tmp_path / "nowhere"))


def test_regimes_are_split_into_tuning_and_held_out_and_static_cues_can_vanish():
    assert set(TUNING_REGIMES) | set(HELD_OUT_REGIMES) == set(REGIMES) and not set(TUNING_REGIMES) & set(HELD_OUT_REGIMES)
    spec = regime_spec("no_static", videos_per_class=4)
    assert spec.static == 0.0 and spec.frames == 24
    live = np.stack(draw_clip("live", np.random.default_rng(0), spec)).astype(float)
    printed = np.stack(draw_clip("print", np.random.default_rng(0), spec)).astype(float)
    assert live.shape == printed.shape == (24, 64, 64, 3)
    # Nothing moves inside a print: frame-to-frame change is the hand's rigid motion and noise only.
    assert np.abs(np.diff(printed, axis=0)).mean() < np.abs(np.diff(live, axis=0)).mean() * 3
    with pytest.raises(FaceauthError, match="unknown synthetic regime"):
        regime_spec("nope")


def test_config_errors_name_the_key():
    with pytest.raises(FaceauthError, match="frame_features"):
        TemporalConfig(synthetic=True, frame_features="checkpoint")
    with pytest.raises(FaceauthError, match="frame_features"):
        TemporalConfig(synthetic=True, frame_features="pixels")
    with pytest.raises(FaceauthError, match="synthetic_regime"):
        TemporalConfig(synthetic=True, synthetic_regime="sunny")
    assert TemporalConfig(frame_extractor="x.pt", synthetic=True).feature_kind == "checkpoint"


def _flicker_videos(n: int, seed: int):
    """Clips whose features have the same distribution of values in both classes; only in live clips
    does feature 0 alternate from frame to frame (what a mean cannot see and a frame difference can)."""
    rng = np.random.default_rng(seed)
    features, attack = [], []
    for i in range(2 * n):
        live = i % 2 == 0
        signs = rng.choice([-1.0, 1.0], 16)
        column = np.where(np.arange(16) % 2 == 0, 1.0, -1.0) if live else np.sort(signs)
        clip = rng.normal(0, 0.3, (16, 3))
        clip[:, 0] += column
        features.append(clip.astype(np.float32))
        attack.append(not live)
    attack = np.array(attack)
    return VideoSet(features, attack, np.where(attack, "print", ""), [str(i) for i in range(2 * n)], "generated", "test")


@pytest.mark.parametrize("kind, separates", [("time_blind", False), ("clip_stats", True)])
def test_clip_head_reads_frame_to_frame_change_and_chooses_its_penalty_on_validation(kind, separates):
    train, val = _flicker_videos(20, 0), _flicker_videos(10, 1)
    model = TemporalModel(3, kind)
    model.set_feature_scaling(*feature_statistics(train))
    chosen = fit_clip_head(model, train, val, seq_len=8, stride=1)
    assert chosen["l2"] in [float(k) for k in chosen["by_l2"]]
    eer = split_metrics(val, video_scores(model.eval(), val, 8, 1, torch.device("cpu")))["eer"]
    assert (eer < 0.05) if separates else (eer > 0.2)


def _separable_videos(n: int, seed: int) -> VideoSet:
    """Feature 0 sits near -1 in every live frame and near +1 in every attack frame; feature 1 is noise."""
    rng = np.random.default_rng(seed)
    attack = np.array([i % 2 == 1 for i in range(2 * n)])
    features = [(rng.normal(0, 0.1, (8, 2)) + [1.0 if a else -1.0, 0.0]).astype(np.float32) for a in attack]
    return VideoSet(features, attack, np.where(attack, "print", ""), [str(i) for i in range(2 * n)], "generated", "test")


def test_clip_head_prefers_the_strongest_penalty_when_validation_cannot_tell():
    train, val = _separable_videos(10, 0), _separable_videos(6, 1)
    model = TemporalModel(2, "time_blind")
    model.set_feature_scaling(*feature_statistics(train))
    chosen = fit_clip_head(model, train, val, seq_len=4, stride=1)
    assert all(row == {"val_eer": 0.0, "val_roc_auc": 1.0} for row in chosen["by_l2"].values()), chosen["by_l2"]
    assert chosen["l2"] == max(CLIP_L2_GRID)


def test_fit_on_val_keeps_the_penalty_with_the_lowest_validation_eer():
    attack = np.array([True, True, False, False])
    separating, inverted = np.array([0.9, 0.8, 0.2, 0.1]), np.array([0.1, 0.2, 0.8, 0.9])
    chosen = fit_on_val(lambda l2: l2, lambda l2: separating if l2 == 0.1 else inverted, attack)
    assert chosen == 0.1


def test_class_balanced_logistic_regression_weighs_each_class_a_half():
    """8 attacks and 2 bona fide with nothing to tell them apart: balanced, the bias is logit(1/2) = 0
    (weighted by count it would be log 4)."""
    fitted = fit_logistic(np.zeros((10, 1)), np.r_[np.ones(8), np.zeros(2)], 1.0)
    assert abs(fitted.weights[-1]) < 1e-6 and np.allclose(fitted.logits(np.zeros((3, 1))), 0.0, atol=1e-6)


def test_threshold_logit_is_the_inverse_of_the_sigmoid():
    assert threshold_logit(0.8) == pytest.approx(np.log(4))
    for t in (0.01, 0.3, 0.5, 0.75, 0.99):
        assert 1 / (1 + np.exp(-threshold_logit(t))) == pytest.approx(t)
    assert threshold_logit(0.0) == -np.inf and threshold_logit(1.0) == np.inf
