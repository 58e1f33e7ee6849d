"""The classical PAD baseline beside every learned model: colour-texture LBP + logistic regression.

Boulkenafet, Komulainen and Hadid (ICIP 2015, "Face anti-spoofing based on color texture analysis"):
recaptured faces (prints, screens) differ from live ones in their chroma texture more than in their
luma, so uniform LBP histograms are taken on the Y, Cb and Cr channels and concatenated. Here:

- uniform LBP with 8 neighbours at radius 1 (the 3x3 neighbourhood, no diagonal interpolation),
  59 bins per channel: the 58 patterns with at most two 0/1 transitions around the circle, and one
  bin for all others; histograms normalised to sum 1, three channels -> 177 features per image;
- a video's descriptor: the mean of its frames' histograms;
- a class-balanced, L2-penalised logistic regression (Newton's method in float64 numpy,
  faceauth.tasks.temporal.baselines), its L2 strength chosen from a small grid on the validation
  side's EER, thresholded at the validation EER: the same training side, the same operating-point
  rule as the model it is compared with.

The paper used an SVM; a logistic regression is the linear classifier the other baselines here use,
and needs no new dependency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceauth.evaluation.metrics import pad_metrics, pad_threshold
from faceauth.tasks.video_files import FRAME_MARK

SYSTEM = "lbp_logreg"
BINS = 59
DESCRIPTION = ("lbp_logreg: colour-texture uniform LBP(8,1) histograms on Y, Cb, Cr (59 bins each) + logistic "
               "regression, fitted on the same training side, thresholded at its own validation EER")
# Neighbours clockwise from the top left, as (dy, dx) offsets into the padded 3x3 window.
_OFFSETS = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))


def _uniform_lookup() -> np.ndarray:
    """Code (0..255) -> bin: the 58 uniform patterns in increasing code order, then 58 for the rest."""
    lookup = np.full(256, BINS - 1, dtype=np.int64)
    index = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            lookup[code] = index
            index += 1
    return lookup


LOOKUP = _uniform_lookup()


def lbp_histograms(channels: np.ndarray) -> np.ndarray:
    """(N, H, W) float -> (N, 59) uniform LBP(8,1) histograms (each sums to 1)."""
    n, h, w = channels.shape
    centre = channels[:, 1:-1, 1:-1]
    codes = np.zeros(centre.shape, dtype=np.int64)
    for bit, (dy, dx) in enumerate(_OFFSETS):
        codes |= (channels[:, dy:dy + h - 2, dx:dx + w - 2] >= centre).astype(np.int64) << bit
    bins = LOOKUP[codes] + BINS * np.arange(n)[:, None, None]
    return np.bincount(bins.ravel(), minlength=BINS * n).reshape(n, BINS) / codes[0].size


def colour_lbp_features(images, batch: int = 256) -> np.ndarray:
    """uint8 RGB images (N, H, W, 3) (an array or anything sliceable like one) -> (N, 177) float64."""
    rows = []
    for start in range(0, len(images), batch):
        rgb = np.asarray(images[start:start + batch], dtype=np.float64)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b  # JFIF YCbCr (the offset of 128 does not change LBP)
        cb = -0.168736 * r - 0.331264 * g + 0.5 * b
        cr = 0.5 * r - 0.418688 * g - 0.081312 * b
        rows.append(np.concatenate([lbp_histograms(c) for c in (y, cb, cr)], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 3 * BINS))


def lbp_baseline(train_x: np.ndarray, train_attack: np.ndarray, val_x: np.ndarray, val_attack: np.ndarray,
                 test_x: np.ndarray, test_attack: np.ndarray, attack_types: np.ndarray | None = None
                 ) -> tuple[dict[str, float], np.ndarray]:
    """(test metrics at the baseline's own validation EER threshold, test scores)."""
    # Imported here: the temporal task's package imports this module (its evaluation uses the baseline).
    from faceauth.tasks.temporal.baselines import fit_logistic, fit_on_val

    model = fit_on_val(lambda l2: fit_logistic(train_x, train_attack, l2), lambda m: m.logits(val_x), val_attack)
    val_scores, test_scores = model.logits(val_x), model.logits(test_x)
    threshold = pad_threshold(val_scores[val_attack], val_scores[~val_attack])
    return pad_metrics(test_scores[test_attack], test_scores[~test_attack], threshold, attack_types), test_scores


class ColourLbpExtractor:
    """Per-frame colour LBP histograms, a temporal frame extractor (features.FrameExtractor) so that
    they are cached per video like the model's features."""

    identity = "colour-lbp59-v1"
    dim = 3 * BINS

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        return colour_lbp_features(np.stack(frames)).astype(np.float32)


def video_lbp_features(paths: list[str], is_attack: np.ndarray, cache_dir: str) -> np.ndarray:
    """(videos, 177): each video's mean frame histogram (cached per video under cache_dir)."""
    from faceauth.tasks.temporal.features import FeatureCache, video_features
    from faceauth.tasks.temporal.videos import Video

    extractor = ColourLbpExtractor()
    cache = FeatureCache(cache_dir, extractor.identity)
    rows = [video_features(Video(Path(p), bool(a), ""), extractor, cache, 1)[0].astype(np.float64).mean(axis=0)
            for p, a in zip(paths, is_attack)]
    return np.stack(rows)


def item_units(relpaths: list[str]) -> np.ndarray:
    """The independent unit of each image, for bootstrap intervals: the entry directly in live/ or
    spoof/<attack type>/ (an image, a video file whose sampled frames are rows, or a folder of one
    subject's or one video's frames)."""
    units = []
    for relpath in relpaths:
        parts = relpath.split(FRAME_MARK)[0].split("/")
        depth = 2 if parts[0] == "live" or len(parts) == 2 else 3  # live/<unit>, spoof/<unit>, spoof/<type>/<unit>
        units.append("/".join(parts[:depth]))
    _, index = np.unique(np.array(units, dtype=str), return_inverse=True)
    return index
