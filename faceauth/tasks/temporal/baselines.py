"""Time-blind baselines: what the LSTM has to beat to show that it uses time.

Fitted on the same training videos and the same frame features as the LSTM, each with its own
operating threshold (the validation EER threshold, as for the model):

- `time_blind_logreg`: each video's frame features averaged over the clip, into a logistic
  regression (the colour-texture-histogram-plus-mean-motion anchor of face PAD, on these features);
- `frame_score_average`: a logistic regression on single frames, its scores averaged over the clip.

Neither sees the order of the frames. The L2 strength of each is chosen on the validation split from
a small grid, so the baselines are tuned as much as the search tunes the model. Newton's method on
float64 numpy: the same data give the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceauth.evaluation.metrics import equal_error_rate, pad_metrics, pad_threshold, roc_curve

L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class LogisticRegression:
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray  # (D + 1,): the last one is the bias

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.std
        return z @ self.weights[:-1] + self.weights[-1]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50) -> LogisticRegression:
    """Class-balanced, L2-penalised (not the bias) logistic regression on standardised features."""
    x = np.asarray(x, np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    z = np.column_stack([(x - mean) / std, np.ones(len(x))])
    y = np.asarray(y, np.float64)
    sample = np.where(y > 0.5, 0.5 / max(y.sum(), 1.0), 0.5 / max((1 - y).sum(), 1.0))  # each class weighs 1/2
    penalty = np.full(z.shape[1], l2 / len(x))
    penalty[-1] = 0.0
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        gradient = z.T @ (sample * (p - y)) + penalty * w
        hessian = (z * (sample * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return LogisticRegression(mean, std, w)


def clip_means(features: list[np.ndarray]) -> np.ndarray:
    return np.stack([f.astype(np.float64).mean(axis=0) for f in features])


def _val_eer(scores: np.ndarray, is_attack: np.ndarray) -> float:
    return equal_error_rate(roc_curve(scores[is_attack], scores[~is_attack]))[0]


def fit_on_val(fit, score, val_is_attack: np.ndarray):
    """The L2 strength with the lowest validation EER (the smaller one on ties)."""
    best = None
    for l2 in L2_GRID:
        model = fit(l2)
        eer = _val_eer(score(model), val_is_attack)
        if best is None or eer < best[0] - 1e-12:
            best = (eer, model)
    return best[1]


def clip_mean_scores(train: list[np.ndarray], train_attack: np.ndarray, val: list[np.ndarray],
                     val_attack: np.ndarray, test: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(val scores, test scores) of the clip-mean logistic regression (logits: any monotone score will do)."""
    xt, xv, xs = clip_means(train), clip_means(val), clip_means(test)
    model = fit_on_val(lambda l2: fit_logistic(xt, train_attack, l2), lambda m: m.logits(xv), val_attack)
    return model.logits(xv), model.logits(xs)


def frame_average_scores(train: list[np.ndarray], train_attack: np.ndarray, val: list[np.ndarray],
                         val_attack: np.ndarray, test: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(val scores, test scores): a per-frame logistic regression's probabilities averaged per clip."""
    frames = np.concatenate(train).astype(np.float64)
    labels = np.concatenate([np.full(len(f), float(a)) for f, a in zip(train, train_attack)])

    def per_clip(model: LogisticRegression, videos: list[np.ndarray]) -> np.ndarray:
        return np.array([np.mean(1.0 / (1.0 + np.exp(-np.clip(model.logits(f), -30, 30)))) for f in videos])

    model = fit_on_val(lambda l2: fit_logistic(frames, labels, l2), lambda m: per_clip(m, val), val_attack)
    return per_clip(model, val), per_clip(model, test)


BASELINES = {"time_blind_logreg": clip_mean_scores, "frame_score_average": frame_average_scores}


def baseline_results(train: list[np.ndarray], train_attack: np.ndarray, val: list[np.ndarray], val_attack: np.ndarray,
                     test: list[np.ndarray], test_attack: np.ndarray, attack_types: np.ndarray | None = None
                     ) -> dict[str, tuple[dict[str, float], np.ndarray]]:
    """name -> (test metrics at the baseline's own validation EER threshold, test scores)."""
    results = {}
    for name, scorer in BASELINES.items():
        val_scores, test_scores = scorer(train, train_attack, val, val_attack, test)
        threshold = pad_threshold(val_scores[val_attack], val_scores[~val_attack])
        metrics = pad_metrics(test_scores[test_attack], test_scores[~test_attack], threshold, attack_types)
        results[name] = (metrics, test_scores)
    return results
