"""The reports as a person reads them: report sections rendered from Markdown to HTML (the `markdown`
package, as a viewer renders them) and the ROC/DET plot's axes, for a verification and an
attack-detection evaluation: headers that say what each column is, the field's terms, no threshold
compared across score scales, and no importance ranking drawn from tied trials."""

from __future__ import annotations

import re

import markdown
import numpy as np
import pytest

from faceauth.evaluation.result import Evaluation
from faceauth.training.fit import Objective
from faceauth.evaluation.metrics import pad_metrics, verification_metrics
from faceauth.tasks.base import SCORE_AXES
from faceauth.tuning.report import _table, importance_lines, plot_roc_det, verdict_lines
from faceauth.evaluation.verdict import build_verdict


def html_of(lines: list[str]) -> str:
    return markdown.markdown("\n".join(lines), extensions=["tables"])


def headers(html: str) -> list[list[str]]:
    return [re.findall(r"<th[^>]*>(.*?)</th>", head) for head in re.findall(r"<thead>(.*?)</thead>", html, re.S)]


def pad_evaluation(rng, attacks: int = 12, bona_fide: int = 12) -> Evaluation:
    systems = {}
    for name, shift in (("liveness_resnet", 1.5), ("lbp_logreg", 0.5)):
        attack, live = rng.normal(shift, 1, attacks), rng.normal(0, 1, bona_fide)
        scale = 1.0 if name == "lbp_logreg" else 0.1  # a logit beside a probability-like score
        systems[name] = (attack * scale, live * scale)
    metrics = {name: pad_metrics(*scores, threshold=float(np.median(scores[1]))) for name, scores in systems.items()}
    groups = (np.arange(attacks), np.arange(attacks, attacks + bona_fide))
    return Evaluation(metrics, systems, {"bootstrap_unit": "videos", "bootstrap_units": attacks + bona_fide}, groups)


def verification_evaluation(rng, pairs: int = 400) -> Evaluation:
    systems = {name: (rng.normal(0.6 + gap, 0.1, pairs), rng.normal(0.2, 0.1, pairs * 4))
               for name, gap in (("fused", 0.1), ("score_average", 0.0))}
    metrics = {name: verification_metrics(*scores) for name, scores in systems.items()}
    genuine = np.stack([np.arange(pairs) % 40] * 2, axis=1)
    impostor = np.stack([np.arange(pairs * 4) % 40, (np.arange(pairs * 4) + 1) % 40], axis=1)
    return Evaluation(metrics, systems, {"bootstrap_unit": "identities", "bootstrap_units": 40}, (genuine, impostor))


@pytest.mark.parametrize("kind", ["pad", "verification"])
def test_tables_say_what_each_column_is_and_keep_thresholds_apart(kind):
    rng = np.random.default_rng(0)
    evaluation = pad_evaluation(rng) if kind == "pad" else verification_evaluation(rng)
    metric = "eer" if kind == "pad" else "tar_at_far_1e-2"
    verdict = build_verdict(evaluation, Objective(metric, "min" if kind == "pad" else "max"), resamples=100)
    html = html_of([*verdict_lines(verdict), "", _table(evaluation.metrics)])
    verdict_head, table_head = headers(html)
    assert verdict_head[1:4] == [f"model's test {metric}", f"baseline's test {metric}", "model - baseline"]
    assert verdict_head[4].startswith("95% CI of model - baseline (100 resamples of")
    assert len(set(verdict_head)) == len(verdict_head)  # no two columns named alike
    assert table_head == ["test metric", *evaluation.metrics]
    assert ">threshold<" not in html  # on different scales: listed, not tabled
    assert "each on its own system's score scale" in html
    assert ("lower is better" if kind == "pad" else "higher is better") in verdict["summary"]


def test_roc_and_det_speak_the_fields_terms_and_fit_a_small_test_set(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rng = np.random.default_rng(1)
    seen = {}
    original = plt.close

    def keep(fig=None):  # look at the axes before the figure is freed
        if fig is not None and hasattr(fig, "axes"):
            seen["axes"] = fig.axes
        return original(fig)

    plt.close = keep
    try:
        plot_roc_det(pad_evaluation(rng), tmp_path / "pad.png", SCORE_AXES["pad"])
        roc, det = seen["axes"]
        assert "BPCER" in roc.get_xlabel() and "APCER" in roc.get_ylabel() and "APCER" in det.get_ylabel()
        assert roc.get_xscale() == "linear" and roc.get_xlim() == (0.0, 1.0)  # 12 bona fide: no log axis from 1/12
        assert roc.get_title().endswith("bona fide presentations)") and "negatives" not in roc.get_title()
        labels = [t.get_text() for t in det.get_legend().get_texts()]
        assert {"liveness_resnet", "lbp_logreg", "EER point"} <= set(labels)
        perfect = Evaluation({"a": {}, "b": {}}, {"a": (np.ones(300), np.zeros(3000)), "b": (rng.normal(1, 1, 300), rng.normal(0, 1, 3000))})
        plot_roc_det(perfect, tmp_path / "v.png", SCORE_AXES["verification"])
        roc, det = seen["axes"]
        assert roc.get_xscale() == "log" and "FAR" in roc.get_xlabel() and "FRR" in det.get_ylabel()
        assert roc.get_title() == "ROC on the test data (3000 impostor pairs)"
        labels = [t.get_text() for t in det.get_legend().get_texts()]
        assert any(label.startswith("a: not drawn") for label in labels)  # every system named, or why not
        assert "FAR = 0.001" in labels
    finally:
        plt.close = original
    assert (tmp_path / "pad.png").stat().st_size > 0


def test_no_importance_ranking_from_tied_trials():
    importance = [("all", {"lr": 0.9, "margin": 0.1})]
    assert any("importance.png" in line for line in importance_lines(importance, saturated=False))
    tied = "\n".join(importance_lines(importance, saturated=True))
    assert "importance.png" not in tied and "tie" in tied


def test_the_report_says_the_output_size_the_model_has():
    from faceauth.tasks.fusion.task import FusionTask
    from faceauth.tuning.report import deployment_lines

    checkpoint = {"config": {"out_dim": 512}, "model_args": {"out_dim": 169, "linear": {"kind": "lda"}}}
    notes = FusionTask().shape_notes(checkpoint)
    assert notes["shape_notes"]["out_dim"].startswith("asked 512; the model's output is 169-d: LDA keeps")
    assert "- out_dim: asked 512; the model's output is 169-d" in "\n".join(deployment_lines({"output": "x", **notes}))
    assert FusionTask().shape_notes({"config": {"out_dim": 169}, "model_args": {"out_dim": 169}}) == {}
