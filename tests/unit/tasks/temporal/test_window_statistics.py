"""Every statistic the temporal task reads over time, on hand-made windows with hand-worked values:
the clip head's window statistics (mean, spread, mean absolute frame-to-frame change), the windows
themselves, the video score, the clip means of the time-blind baseline, and the frame features that
compare a frame with the previous ones (motion, rigid motion, flicker)."""

import numpy as np
import pytest
import torch

from faceauth.tasks.temporal.baselines import clip_means
from faceauth.tasks.temporal.clip_head import video_probabilities
from faceauth.tasks.temporal.data import VideoSet, eval_windows, window_starts
from faceauth.tasks.temporal.features import FLICKER_FRAMES, flicker_spectrum, motion_features, rigid_residual
from faceauth.tasks.temporal.model import TemporalModel, window_statistics

# One window of 4 frames and 3 features: rising by 2 a frame, falling by 2 a frame, constant.
RISING, FALLING, CONSTANT = [0.0, 2.0, 4.0, 6.0], [6.0, 4.0, 2.0, 0.0], [5.0, 5.0, 5.0, 5.0]
GUARD = 1e-6  # the spread is sqrt(variance + 1e-6): never 0, so its gradient is finite


def window(*columns: list[float]) -> torch.Tensor:
    """(1, frames, features) from one list of values per feature."""
    return torch.tensor(np.stack(columns, axis=1), dtype=torch.float64)[None]


# ---------------------------------------------------------------------------------------------- clip head statistics

def test_window_statistics_hand_worked():
    stats = window_statistics(window(RISING, FALLING, CONSTANT), groups=3)[0].numpy()
    assert stats.shape == (9,)  # [mean of each feature, spread of each, change of each]
    mean, spread, change = stats[:3], stats[3:6], stats[6:]
    assert mean == pytest.approx([3.0, 3.0, 5.0])
    # Population spread: deviations -3, -1, 1, 3 -> variance (9 + 1 + 1 + 9) / 4 = 5 (not 5 itself: its root).
    assert spread == pytest.approx(np.sqrt([5.0 + GUARD, 5.0 + GUARD, GUARD]), abs=1e-9)
    assert spread[2] < 2e-3  # a constant feature has (almost) no spread
    # Mean absolute change: 2 per frame whether the feature rises or falls, 0 when it stays.
    assert change == pytest.approx([2.0, 2.0, 0.0])


def test_change_is_the_mean_absolute_step_not_the_net_drift():
    """0, 2, 0, 2: three steps of size 2 (a blink, a flicker); the net drift (2 over 3 steps) would be 2/3."""
    stats = window_statistics(window([0.0, 2.0, 0.0, 2.0], RISING, CONSTANT), groups=3)[0].numpy()
    assert stats[6] == pytest.approx(2.0) and stats[3] == pytest.approx(np.sqrt(1.0 + GUARD))


def test_window_statistics_of_a_scaled_window_scale_with_it():
    base = window(RISING, FALLING, CONSTANT)
    a, b = window_statistics(base, 3)[0].numpy(), window_statistics(3.0 * base - 1.0, 3)[0].numpy()
    assert b[:3] == pytest.approx(3.0 * a[:3] - 1.0)
    assert b[[3, 4]] == pytest.approx(3.0 * a[[3, 4]], rel=1e-6) and b[6:] == pytest.approx(3.0 * a[6:])


def test_one_frame_window_has_no_change_and_a_batch_is_per_window():
    one = window_statistics(window([4.0], [1.0], [2.0]), 3)[0].numpy()
    assert one[:3] == pytest.approx([4.0, 1.0, 2.0]) and one[6:] == pytest.approx([0.0, 0.0, 0.0])
    both = torch.cat([window(RISING, FALLING, CONSTANT), window(CONSTANT, RISING, FALLING)])
    stats = window_statistics(both, 3).numpy()
    assert stats[0, :3] == pytest.approx([3.0, 3.0, 5.0]) and stats[1, :3] == pytest.approx([5.0, 3.0, 3.0])
    assert stats[1, 6:] == pytest.approx([0.0, 2.0, 2.0])


def test_time_blind_reads_the_mean_alone():
    stats = window_statistics(window(RISING, FALLING, CONSTANT), groups=1)[0].numpy()
    assert stats == pytest.approx([3.0, 3.0, 5.0])


def test_model_statistics_standardise_the_raw_statistics():
    """TemporalModel.statistics: the features scaled first, then the statistics standardised."""
    model = TemporalModel(3, kind="clip_stats")
    model.set_feature_scaling(np.array([1.0, 0.0, 5.0]), np.array([2.0, 1.0, 1.0]))
    model.set_statistic_scaling(np.zeros(9), np.full(9, 0.5))
    stats = model.statistics(window(RISING, FALLING, CONSTANT).float())[0].numpy()
    # Feature 0 scaled: (0, 2, 4, 6 - 1) / 2 = -0.5, 0.5, 1.5, 2.5: mean 1, spread sqrt(1.25), change 1; then / 0.5.
    assert stats[[0, 3, 6]] == pytest.approx([2.0, 2.0 * np.sqrt(1.25 + GUARD), 2.0], rel=1e-5)


# ---------------------------------------------------------------------------------------------- windows, video score

def test_windows_cover_the_video_oldest_frame_first():
    frames = np.arange(10, dtype=np.float32)[:, None]  # a frame's one feature is its index
    assert window_starts(10, 5).tolist() == [0, 2, 4, 5]  # half-overlapping, the last ending at the end
    videos = VideoSet([frames, frames[:5] + 100], np.array([True, False]), np.array(["print", ""]), ["a", "b"], "test",
                      "texture")
    windows, owners = eval_windows(videos, seq_len=3, stride=2)  # 3 frames taking every 2nd: a span of 5
    assert windows[..., 0].tolist() == [[0, 2, 4], [2, 4, 6], [4, 6, 8], [5, 7, 9], [100, 102, 104]]
    assert owners.tolist() == [0, 0, 0, 0, 1]


def test_video_score_is_the_mean_window_probability():
    # Video 0: windows at logits 0 and log 3 (probabilities 1/2 and 3/4); video 1: one window at logit -log 3.
    scores = video_probabilities(np.array([0.0, np.log(3.0), -np.log(3.0)]), np.array([0, 0, 1]), 2)
    assert scores == pytest.approx([0.625, 0.25])


def test_clip_means_average_each_feature_over_the_frames():
    means = clip_means([np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]), np.array([[7.0, -1.0]])])
    assert means.tolist() == [[3.0, 5.0], [7.0, -1.0]]


# ---------------------------------------------------------------------------------------------- frame-to-frame features

def _face_moves(size: int = 8, step: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """An 8x8 luma frame whose central half (rows and columns 2..5, the 'face') brightens by `step`."""
    previous = np.zeros((size, size))
    luma = previous.copy()
    luma[2:6, 2:6] = step
    return luma, previous


def test_motion_features_hand_worked():
    luma, previous = _face_moves()
    motion, centre, border, contrast, brightness = motion_features(luma, previous)
    # 16 of 64 pixels change by 0.5: overall 0.125; the central half all 0.5; the outer ring none.
    assert (motion, centre, border) == pytest.approx((0.125, 0.5, 0.0))
    assert contrast == pytest.approx(0.5 / (0.5 + 1e-6))  # the face moves, the background does not: +1
    assert brightness == pytest.approx(0.125)  # the frame got brighter on average


def test_motion_features_darkening_keeps_motion_and_flips_the_brightness_change():
    luma, previous = _face_moves()
    motion, centre, border, contrast, brightness = motion_features(previous, luma)  # the same change, undone
    assert (motion, centre, border) == pytest.approx((0.125, 0.5, 0.0))
    assert contrast == pytest.approx(1.0, abs=1e-5)
    assert brightness == pytest.approx(-0.125)  # same size, opposite sign


def test_motion_features_background_only_and_uniform_flicker():
    previous = np.zeros((8, 8))
    moved = previous.copy()
    moved[0, :] = 1.0  # the top row (in the outer ring) changes, the face does not
    _, centre, border, contrast, _ = motion_features(moved, previous)
    assert centre == 0 and border == pytest.approx(8 / 28) and contrast == pytest.approx(-1.0, abs=1e-4)
    motion, centre, border, contrast, brightness = motion_features(previous + 0.1, previous)  # all brighter by 0.1
    assert (motion, centre, border, brightness) == pytest.approx((0.1, 0.1, 0.1, 0.1)) and contrast == pytest.approx(0.0)


N = 64
YY, XX = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
CENTRE = (N - 1) / 2


def pattern(dy: float = 0.0, dx: float = 0.0, zoom: float = 0.0) -> np.ndarray:
    """A smooth luma pattern moved down by dy, right by dx and enlarged by `zoom` about the centre."""
    y, x = (YY - CENTRE - dy) / (1 + zoom), (XX - CENTRE - dx) / (1 + zoom)
    return 0.5 + 0.2 * np.sin(2 * np.pi * y / 32) * np.cos(2 * np.pi * x / 24)


def test_rigid_residual_reads_the_shift_with_its_sign():
    (shift_y, shift_x, zoom, gain), residual = rigid_residual(pattern(dy=0.3), pattern())
    assert shift_y == pytest.approx(0.3, abs=0.01) and abs(shift_x) < 1e-3 and abs(zoom) < 1e-4 and abs(gain) < 1e-3
    assert residual.mean() < 1e-4  # a rigid shift is explained: nothing is left
    (shift_y, shift_x, _, _), _ = rigid_residual(pattern(dy=-0.3), pattern())
    assert shift_y == pytest.approx(-0.3, abs=0.01)
    (shift_y, shift_x, _, _), _ = rigid_residual(pattern(dx=-0.3), pattern())
    assert shift_x == pytest.approx(-0.3, abs=0.01) and abs(shift_y) < 1e-3


def test_rigid_residual_zoom_and_gain():
    (_, _, zoom_in, _), _ = rigid_residual(pattern(zoom=0.02), pattern())
    (_, _, zoom_more, _), _ = rigid_residual(pattern(zoom=0.04), pattern())
    (_, _, zoom_out, _), _ = rigid_residual(pattern(zoom=-0.02), pattern())
    # The zoom is quoted per pixel of half-width: 0.02 / 31.5 for a 2% enlargement.
    assert zoom_in == pytest.approx(0.02 / CENTRE, rel=0.05) and zoom_out == pytest.approx(-zoom_in, rel=0.1)
    assert zoom_more == pytest.approx(2 * zoom_in, rel=0.1)
    # 10% brighter: the change is 0.1 x the frame, fitted against the mean of the two frames (1.05 x): 0.1 / 1.05.
    (shift_y, shift_x, _, gain), residual = rigid_residual(1.1 * pattern(), pattern())
    assert gain == pytest.approx(0.1 / 1.05, rel=1e-3) and abs(shift_y) < 1e-6 and residual.mean() < 1e-6
    (_, _, _, darker), _ = rigid_residual(pattern(), 1.1 * pattern())
    assert darker == pytest.approx(-gain, rel=1e-3)


def test_rigid_residual_leaves_a_local_change_where_it_happened():
    previous = pattern()
    luma = previous.copy()
    luma[20:26, 20:44] += 0.2  # a change in the eye band only (a blink)
    _, residual = rigid_residual(luma, previous)
    ring = np.ones((N, N), bool)
    ring[8:-8, 8:-8] = False
    assert residual[20:26, 20:44].mean() > 20 * residual[ring].mean()


def test_flicker_spectrum_hand_worked():
    """Shares of the detrended brightness power at frequencies 1..4 cycles per 8 frames, and the log total."""
    silent = [0.0] * 4 + [-23.025850929940457]  # log(1e-10): no power at all
    # A steady or linearly drifting brightness is no flicker: the linear trend is removed first.
    assert flicker_spectrum([0.7] * FLICKER_FRAMES) == pytest.approx(silent, abs=1e-6)
    assert flicker_spectrum(list(0.1 * np.arange(FLICKER_FRAMES) + 0.3)) == pytest.approx(silent, abs=1e-6)
    # 1, -1, -1, 1, ...: a pure cosine of period 4 (2 cycles in 8 frames), free of any linear trend: all
    # the power at frequency 2, |X_2|^2 = (8 / 2 * sqrt 2)^2 = 32.
    assert flicker_spectrum([1.0, -1.0, -1.0, 1.0] * 2) == pytest.approx([0.0, 1.0, 0.0, 0.0, np.log(32.0)], abs=1e-9)
    # Only the last 8 frames count; fewer are padded with the first value (one frame: nothing to see).
    assert flicker_spectrum([9.0] * 5 + [1.0, -1.0, -1.0, 1.0] * 2) == pytest.approx(
        flicker_spectrum([1.0, -1.0, -1.0, 1.0] * 2))
    assert flicker_spectrum([0.4]) == pytest.approx(silent, abs=1e-6)
