"""Temporal liveness data: the video layout and its checks, deterministic cached frame features, windows
(the model and its ONNX export: test_temporal_model.py)."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceauth.training.checkpoint import make_checkpoint, save_checkpoint
from faceauth.io.errors import FaceauthError
from faceauth.tasks import get_task
from faceauth.tasks.temporal.config import TemporalConfig
from faceauth.tasks.temporal.data import VideoSet, eval_windows, feature_statistics, load_splits, train_windows, window_starts
from faceauth.tasks.temporal.features import TEXTURE_FEATURES, TextureExtractor
from faceauth.tasks.temporal.synthetic import generate_temporal_dataset
from faceauth.tasks.temporal.videos import VideoProblem, check_length

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A tiny synthetic dataset: 4 live + 4 spoof videos (2 print, 2 replay) per split, 12 frames of 32 px."""
    root = tmp_path_factory.mktemp("videos") / "data"
    generate_temporal_dataset(root, videos_per_class=4, frames=12, size=32, difficulty=0.3, seed=1, quiet=True)
    return root


def config(root, cache, **extra) -> TemporalConfig:
    return TemporalConfig(data_root=str(root), cache_dir=str(cache), seq_len=4, frame_stride=1, **extra)


def copy_of(videos, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(videos, root)
    return root


def test_generator_writes_frame_folders_video_files_and_a_readme(videos):
    assert "SYNTHETIC" in (videos / "README.txt").read_text()
    for split in ("train", "val", "test"):
        assert list((videos / split / "live").glob("*.mp4")) and list((videos / split / "spoof" / "replay").glob("*.avi"))
        assert list((videos / split / "spoof" / "print").glob("print_001/frame_*.png"))


def test_splits_load_with_attack_types_from_both_frame_folders_and_video_files(videos, tmp_path):
    splits = load_splits(config(videos, tmp_path))
    train = splits["train"]
    assert len(train) == 8 and train.is_attack.sum() == 4 and set(train.attack_types) == {"", "print", "replay"}
    assert all(f.shape == (12, len(TEXTURE_FEATURES)) and f.dtype == np.float32 for f in train.features)
    assert any(p.endswith(".mp4") for p in train.paths) and any(p.endswith(".avi") for p in train.paths)
    assert sorted(train.attack_type_labels()) == ["print", "print", "replay", "replay"]
    assert np.isfinite(np.concatenate(train.features)).all()


def break_videos(root: Path) -> dict[str, str]:
    """Four kinds of bad video in three splits; returns path -> the words its error must contain."""
    live = root / "train" / "live"
    (live / "live_001" / "frame_0003.png").write_bytes(b"not a png")
    short = root / "val" / "live" / "live_001"
    for frame in sorted(short.iterdir())[2:]:
        frame.unlink()
    mixed = root / "test" / "spoof" / "print" / "print_001" / "frame_0005.png"
    Image.new("RGB", (20, 24)).save(mixed)
    (live / "broken.mp4").write_bytes(b"\x00" * 300)
    return {str(live / "live_001"): "frame_0003.png is unreadable", str(short): "2 frames, but a sequence needs 4",
            str(mixed.parent): "mixed sizes", str(live / "broken.mp4"): "unreadable video file"}


def test_every_bad_video_is_listed_in_one_error_and_skip_invalid_trains_without_them(videos, tmp_path, capsys, caplog):
    root = copy_of(videos, tmp_path)
    bad = break_videos(root)
    with pytest.raises(FaceauthError) as err:
        load_splits(config(root, tmp_path / "cache"))
    message = str(err.value)
    assert message.startswith("4 video(s) cannot be used") and "--skip-invalid" in message
    for path, why in bad.items():
        assert any(path in line and why in line for line in message.splitlines()), (path, why, message)

    splits = load_splits(config(root, tmp_path / "cache", skip_invalid=True))
    assert len(splits["train"]) == 7 and len(splits["val"]) == 7 and len(splits["test"]) == 7
    assert set(splits["train"].skipped) == {str(root / "train/live/live_001"), str(root / "train/live/broken.mp4")}
    listing = capsys.readouterr().err + caplog.text  # the terminal's handler, or the log records where none is set up
    assert "skipped 4 invalid video(s)" in listing and all(path in listing for path in bad)


def test_layout_problems_are_reported_together(videos, tmp_path):
    root = copy_of(videos, tmp_path)
    shutil.rmtree(root / "val" / "spoof")
    shutil.rmtree(root / "test")
    with pytest.raises(FaceauthError, match="temporal data layout") as err:
        load_splits(config(root, tmp_path / "cache"))
    assert f"{root / 'val' / 'spoof'} is missing" in str(err.value) and f"{root / 'test'} is missing" in str(err.value)
    with pytest.raises(FaceauthError, match="choose one data source"):
        load_splits(TemporalConfig())


def test_a_folder_without_frames_is_named_not_skipped(videos, tmp_path):
    """A video folder whose frames were never written, an empty attack-type folder and a folder level
    the layout does not have were skipped without a word: they are layout problems now."""
    root = copy_of(videos, tmp_path)
    (root / "train" / "live" / "live_empty").mkdir()
    (root / "val" / "spoof" / "mask").mkdir()
    (root / "test" / "spoof" / "print" / "subject_01").mkdir()
    with pytest.raises(FaceauthError, match="temporal data layout") as err:
        load_splits(config(root, tmp_path / "cache"))
    message = str(err.value)
    assert f"{root / 'train' / 'live' / 'live_empty'} holds no frames" in message
    assert f"{root / 'val' / 'spoof' / 'mask'} (attack type mask) holds no videos" in message
    assert f"{root / 'test' / 'spoof' / 'print' / 'subject_01'} holds no frames" in message


def cache_files(cache: Path) -> dict[str, np.ndarray]:
    return {p.name: np.load(p) for p in sorted(cache.rglob("*.npy"))}


def test_features_are_bit_identical_in_another_process(videos, tmp_path):
    load_splits(config(videos, tmp_path / "here"))
    script = ("import sys; from faceauth.tasks.temporal.config import TemporalConfig; "
              "from faceauth.tasks.temporal.data import load_splits; "
              "load_splits(TemporalConfig(data_root=sys.argv[1], cache_dir=sys.argv[2], seq_len=4))")
    subprocess.run([sys.executable, "-c", script, str(videos), str(tmp_path / "there")], cwd=ROOT, check=True)
    here, there = cache_files(tmp_path / "here"), cache_files(tmp_path / "there")
    assert len(here) == 24 and here.keys() == there.keys()
    assert all(np.array_equal(here[k], there[k]) for k in here)


def test_a_changed_frame_misses_the_cache_and_the_rest_hit(videos, tmp_path):
    root = copy_of(videos, tmp_path)
    cfg = config(root, tmp_path / "cache")
    first = load_splits(cfg)["train"]
    assert first.cache_hits == 0
    assert load_splits(cfg)["train"].cache_hits == 8
    frame = root / "train" / "live" / "live_002" / "frame_0007.png"
    Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(frame)
    again = load_splits(cfg)["train"]
    changed = again.paths.index(str(frame.parent))
    assert again.cache_hits == 7
    assert not np.array_equal(again.features[changed][7], first.features[changed][7])
    assert np.array_equal(again.features[changed][:6], first.features[changed][:6])  # frames before it: the same bits


def liveness_extractor(path: Path, seed: int) -> Path:
    """A small liveness checkpoint (untrained) to serve as a frame extractor."""
    from faceauth.training.config import to_dict
    from faceauth.tasks.liveness.config import LivenessConfig
    from faceauth.tasks.liveness.training import model_args

    cfg = LivenessConfig(image_size=32, width=4, depth=10)
    torch.manual_seed(seed)
    model = get_task("liveness").build_model(model_args(cfg))
    return save_checkpoint(make_checkpoint("liveness", model_args(cfg), model, config=to_dict(cfg), metrics={}), path)


def test_a_checkpoint_extractor_gives_its_penultimate_features_and_a_new_checkpoint_misses(videos, tmp_path):
    extractor = liveness_extractor(tmp_path / "a.pth", seed=0)
    cfg = config(videos, tmp_path / "cache", frame_extractor=str(extractor))
    first = load_splits(cfg, ("val",))["val"]
    assert first.extractor.startswith("checkpoint-liveness-") and first.features[0].shape == (12, 32)  # 8 x width 4
    again = load_splits(cfg, ("val",))["val"]
    assert again.cache_hits == 8 and all(np.array_equal(a, b) for a, b in zip(first.features, again.features))
    liveness_extractor(tmp_path / "a.pth", seed=1)  # the same path, other weights
    changed = load_splits(cfg, ("val",))["val"]
    assert changed.cache_hits == 0 and changed.extractor != first.extractor
    assert not np.array_equal(changed.features[0], first.features[0])
    built_in = load_splits(config(videos, tmp_path / "cache"), ("val",))["val"]
    assert built_in.cache_hits == 0 and built_in.extractor == TextureExtractor.identity


def test_windows_cover_each_video_and_augmentation_zero_changes_nothing(videos, tmp_path):
    train = load_splits(config(videos, tmp_path), ("train",))["train"]
    assert list(window_starts(12, 4)) == [0, 2, 4, 6, 8] and list(window_starts(12, 7)) == [0, 3, 5]
    windows, owners = eval_windows(train, seq_len=4, stride=2)  # a window spans 7 frames
    assert windows.shape == (8 * 3, 4, len(TEXTURE_FEATURES)) and np.bincount(owners).tolist() == [3] * 8
    assert np.array_equal(windows[1], train.features[0][3:10:2])
    std = np.ones(len(TEXTURE_FEATURES), np.float32)
    plain, labels = train_windows(train, 4, 2, 0.0, std, np.random.default_rng(0))
    assert np.array_equal(plain, windows) and labels.tolist() == [float(a) for a in train.is_attack for _ in range(3)]
    augmented, _ = train_windows(train, 4, 2, 1.0, std, np.random.default_rng(0))
    assert augmented.shape[1:] == plain.shape[1:] and not np.array_equal(augmented[:len(plain)], plain)


def video_set(features: list[np.ndarray], attack: list[bool]) -> VideoSet:
    attack = np.array(attack)
    return VideoSet([f.astype(np.float32) for f in features], attack, np.where(attack, "print", ""),
                    [str(i) for i in range(len(features))], "generated", "test")


def test_feature_noise_is_a_tenth_of_each_features_spread():
    videos = video_set([np.zeros((40, 2))] * 4, [False, True, False, True])
    x, _ = train_windows(videos, 4, 2, 1.0, np.array([100.0, 1.0], np.float32), np.random.default_rng(0))
    assert x[..., 0].std() == pytest.approx(10.0, rel=0.15) and x[..., 1].std() == pytest.approx(0.1, rel=0.15)


def test_dropped_frames_repeat_their_predecessor_and_never_go_back_in_time():
    videos = video_set([np.arange(40.0)[:, None]] * 2, [False, True])
    repeats = 0
    for seed in range(5):
        x, _ = train_windows(videos, 6, 2, 1.0, np.zeros(1, np.float32), np.random.default_rng(seed))
        steps = np.diff(x[..., 0], axis=1)
        assert (steps >= 0).all(), seed
        repeats += int((steps == 0).sum())
    assert repeats > 0  # some frames were dropped


def test_feature_statistics_give_a_constant_feature_a_std_of_one():
    videos = video_set([np.array([[5.0, 0.0], [5.0, 2.0]]), np.array([[5.0, 4.0], [5.0, 6.0]])], [False, True])
    mean, std = feature_statistics(videos)
    assert mean.tolist() == [5.0, 3.0]
    assert std[0] == 1.0 and std[1] == pytest.approx(np.std([0.0, 2.0, 4.0, 6.0]))


def test_a_video_needs_at_least_as_many_frames_as_a_window_spans():
    try:
        check_length(7, 7)
    except VideoProblem as problem:
        pytest.fail(f"a video exactly one window long was refused: {problem}")
    with pytest.raises(VideoProblem, match="6 frames, but a sequence needs 7"):
        check_length(6, 7)
