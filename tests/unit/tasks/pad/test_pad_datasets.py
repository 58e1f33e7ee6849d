"""Public anti-spoofing datasets read where they lie (faceauth.tasks.pad_datasets), from tiny copies of their
shipped layouts (tests/pad_layouts.py): detection, labels, splits, OULU-NPU's protocol lists, the
shipped face boxes, and training on each of them end to end (the train command, in this process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceauth.tasks import pad_datasets
from faceauth import train as train_cli
from faceauth.training.config import build_config
from faceauth.io.errors import FaceauthError
from faceauth.tasks.protocols import scan_items, shipped_protocol
from faceauth.tasks import face_boxes
from faceauth.tasks.liveness.config import LivenessConfig
from faceauth.tasks.liveness.data import decode_image, decoder
from tests.pad_layouts import (CANVAS, FACE, write_casia, write_celeba_spoof, write_oulu, write_oulu_list, write_replay)

SMALL_OULU = {"Train_files": (1,), "Dev_files": (21,), "Test_files": (36,)}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("pad")
    return {"oulu-npu": write_oulu(root / "oulu"), "casia-fasd": write_casia(root / "casia"),
            "replay-attack": write_replay(root / "replay"), "celeba-spoof": write_celeba_spoof(root / "celeba")}


def counts(media) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for m in media:
        found[(m.split, m.attack_type or "live")] = found.get((m.split, m.attack_type or "live"), 0) + 1
    return found


def test_every_layout_is_detected_and_only_as_itself(layouts, tmp_path):
    for name, root in layouts.items():
        assert pad_datasets.reader(root).NAME == name
        assert pad_datasets.reader(root, name).NAME == name
        assert pad_datasets.reader(root, "faceauth") is None
        other = next(n for n in pad_datasets.FORMATS if n != name)
        with pytest.raises(FaceauthError, match=f"does not look like {other}"):
            pad_datasets.reader(root, other)
    (tmp_path / "train" / "live").mkdir(parents=True)
    assert pad_datasets.reader(tmp_path) is None  # faceauth's own layout


def test_the_dataset_flag_takes_every_layout():
    from typing import get_args, get_type_hints

    from faceauth.tasks.pad import PadConfig

    assert get_args(get_type_hints(PadConfig)["dataset"]) == pad_datasets.LAYOUTS


def test_oulu_npu_labels_splits_and_the_attack_types_it_defines(layouts):
    media = pad_datasets.reader_of("oulu-npu").read(layouts["oulu-npu"])
    # 6 phones x 3 sessions per user; train has users 1 and 2; file 1 bona fide, 2-3 print, 4-5 replay.
    assert counts(media) == {("train", "live"): 36, ("train", "print"): 72, ("train", "replay"): 72,
                             ("val", "live"): 18, ("val", "print"): 36, ("val", "replay"): 36,
                             ("test", "live"): 18, ("test", "print"): 36, ("test", "replay"): 36}
    assert {m.relpath.split("/")[0] for m in media if m.split == "val"} == {"Dev_files"}


def test_oulu_npu_protocols_follow_their_lists(layouts):
    root = layouts["oulu-npu"]
    items = scan_items(root)
    protocol = shipped_protocol(root, "oulu-npu-3", "auto", items)
    assert [f.name for f in protocol.folds] == [f"oulu-npu-3_{k}" for k in range(1, 7)]
    for k, fold in enumerate(protocol.folds, start=1):
        test = [i for i in items if fold.test.selects(i)]
        train = [i for i in items if fold.train.selects(i)]
        assert {i.path.name.split("_")[0] for i in test} == {str(k)}  # the held-out phone only
        assert str(k) not in {i.path.name.split("_")[0] for i in train}
        assert all(i.split == "test" for i in test) and all(i.split == "train" for i in train)
    one = shipped_protocol(root, "oulu-npu-1", "auto", items)
    test = [i for i in items if one.folds[0].test.selects(i)]
    assert {i.path.name.split("_")[1] for i in test} == {"3"}  # protocol 1 tests the unseen session
    four = shipped_protocol(root, "oulu-npu-4", "auto", items).folds[2]
    assert {i.path.stem[-1] for i in items if four.test.selects(i)} == {"1", "3", "5"}  # unseen instruments


def oulu_copy(tmp_path) -> Path:
    return write_oulu(tmp_path / "oulu", users=SMALL_OULU, phones=range(1, 7), sessions=(1, 3))


@pytest.mark.parametrize("line, message", [
    ("+1,1_1_99_1", "line 2: names 1_1_99_1"),                 # a video that is not there
    ("x,1_1_01_1", "line 2: unknown label or video name"),      # not a number
    ("+1,1_1_01_2", "line 2: label +1 disagrees with 1_1_01_2"),  # bona fide label on a print attack
    ("1_1_01_1", "line 2: expected 'label,videoname'"),
])
def test_a_bad_protocol_line_names_its_file_and_line(tmp_path, line, message):
    root = oulu_copy(tmp_path)
    lists = root / "Protocols" / "Protocol_1" / "Train.txt"
    lines = lists.read_text().splitlines()
    lists.write_text("\n".join([lines[0], line, *lines[2:]]) + "\n")
    with pytest.raises(FaceauthError) as caught:
        shipped_protocol(root, "oulu-npu-1", "auto", scan_items(root))
    assert str(lists) in str(caught.value) and message in str(caught.value)


def test_a_missing_protocol_file_or_a_protocol_of_another_dataset_is_named(tmp_path, layouts):
    root = oulu_copy(tmp_path)
    (root / "Protocols" / "Protocol_3" / "Test_4.txt").unlink()
    with pytest.raises(FaceauthError, match="Test_4.txt is missing"):
        shipped_protocol(root, "oulu-npu-3", "auto", scan_items(root))
    casia = layouts["casia-fasd"]
    with pytest.raises(FaceauthError, match="oulu-npu-3 is oulu-npu's.*casia-fasd"):
        shipped_protocol(casia, "oulu-npu-3", "auto", scan_items(casia))


def test_casia_fasd_classes_by_file_name_and_a_held_out_validation_subject(layouts, tmp_path):
    media = pad_datasets.reader_of("casia-fasd").read(layouts["casia-fasd"])
    by_split = {s: sorted({m.subject for m in media if m.split == s}, key=int) for s in ("train", "val", "test")}
    assert by_split == {"train": ["1", "2", "3", "4"], "val": ["5"], "test": ["21", "22"]}
    assert counts(media)[("train", "live")] == 12 and counts(media)[("test", "cut_photo")] == 6
    root = write_casia(tmp_path / "casia", train_subjects=2, test_subjects=1)
    (root / "train_release" / "1" / "9.avi").write_bytes(b"")
    with pytest.raises(FaceauthError, match=r"unknown label, e.g. train_release/1/9.avi"):
        pad_datasets.reader_of("casia-fasd").read(root)


def test_replay_attack_groups_devices_and_unknown_names(layouts, tmp_path):
    media = pad_datasets.reader_of("replay-attack").read(layouts["replay-attack"])
    assert counts(media) == {("train", "live"): 8, ("train", "print"): 4, ("train", "mobile"): 4, ("train", "highdef"): 4,
                             ("val", "live"): 4, ("val", "print"): 2, ("val", "mobile"): 2, ("val", "highdef"): 2,
                             ("test", "live"): 4, ("test", "print"): 2, ("test", "mobile"): 2, ("test", "highdef"): 2}
    root = write_replay(tmp_path / "replay", clients={"train": (1,), "devel": (3,), "test": (5,)})
    (root / "train" / "real" / "client001_webcam.mov").write_bytes(b"")
    with pytest.raises(FaceauthError, match="unknown label, e.g. train/real/client001_webcam.mov"):
        pad_datasets.reader_of("replay-attack").read(root)


def test_celeba_spoof_label_files_drive_splits_and_types(layouts, tmp_path):
    media = pad_datasets.reader_of("celeba-spoof").read(layouts["celeba-spoof"])
    assert {m.attack_type for m in media} == {"", "photo", "poster", "pc", "phone", "face_mask"}
    assert sorted({m.subject for m in media if m.split == "val"}) == ["4"]
    assert all(m.relpath.startswith("Data/") for m in media)
    root = write_celeba_spoof(tmp_path / "celeba", train_subjects=2, test_subjects=1)
    labels_path = root / "CelebA_Spoof" / "metas" / "intra_test" / "train_label.json"
    labels = json.loads(labels_path.read_text())
    key = next(k for k in labels if "/live/" in k)
    for change, message in (([0] * 40 + [0, 0, 0, 2], "unknown label"), ([0] * 40 + [3, 1, 1, 1], "disagree with the folder live/"),
                            ([0] * 12, "expected a list of 44 integers")):
        labels_path.write_text(json.dumps({**labels, key: change}))
        with pytest.raises(FaceauthError, match=message) as caught:
            pad_datasets.reader_of("celeba-spoof").read(root)
        assert str(labels_path) in str(caught.value) and key in str(caught.value)
    labels_path.write_text(json.dumps(labels)[:-40])
    with pytest.raises(FaceauthError, match="not readable JSON"):
        pad_datasets.reader_of("celeba-spoof").read(root)


def test_shipped_face_boxes_are_parsed_and_scaled(tmp_path):
    face = tmp_path / "v.face"
    face.write_text("0 10 20 30 40\n1 12 20 30 40\n2 0 0 0 0\n")
    boxes = face_boxes.read_face_file(face)
    assert boxes.box(2, 320, 240) == (12, 20, 30, 40)  # no face in frame 2: the nearest frame's box
    bb = tmp_path / "0001_BB.txt"
    bb.write_text("56 112 28 56 0.9\n")
    assert face_boxes.read_bb_file(bb).box(0, 448, 112) == (112, 56, 56, 28)  # from the 224 x 224 frame
    eyes = tmp_path / "1_1_01_1.txt"
    eyes.write_text("0, 40, 50, 60, 50\n")
    x, y, w, h = face_boxes.read_eye_file(eyes).box(0, 100, 100)
    assert w == h == 50 and x + w / 2 == 50 and y + h / 2 > 50  # centred below the eyes
    face.write_text("0 10 20 x 40\n")
    with pytest.raises(ValueError, match=r"v.face, line 1"):
        face_boxes.read_face_file(face)


def background_share(image: np.ndarray) -> float:
    """The share of pixels of the fixtures' plain background (grey 90)."""
    return float(np.mean(np.all(np.abs(image.astype(int) - 90) <= 3, axis=-1)))


def test_the_shipped_box_crops_the_face_before_resizing(layouts, tmp_path):
    image = next((layouts["celeba-spoof"] / "CelebA_Spoof" / "Data" / "train").rglob("*.jpg"))
    cropped = decode_image(image, 32)
    assert background_share(cropped) < 0.1
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(image.read_bytes())  # the same image without its box file
    assert background_share(decode_image(plain, 32)) > 0.2
    video = next((layouts["replay-attack"] / "train" / "real").glob("*.mov"))
    config = build_config(LivenessConfig, {"image_size": 32, "frames_per_video": 3})
    rows = [decoder(config)(Path(f"{video}#{k}"), 32) for k in range(3)]
    assert all(background_share(row) < 0.1 for row in rows)  # every frame, the last (no detection) too
    assert CANVAS[0] > FACE * 1.5  # the check above means something: the frame is mostly background


@pytest.mark.parametrize("name", ["replay-attack", "celeba-spoof"])  # CASIA-FASD: the test below
def test_liveness_trains_on_the_dataset_where_it_lies(layouts, tmp_path, capsys, name):
    out = tmp_path / "out"
    argv = ["liveness", "--data-root", str(layouts[name]), "--smoke-test", "--cache-dir", str(tmp_path / "cache"),
            "--output-dir", str(out), "--log-dir", str(tmp_path / "logs")]
    assert train_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "protocol standard" in printed and (out / "protocol.metrics.json").is_file()
    results = json.loads((out / "protocol.metrics.json").read_text())
    test = results["folds"]["standard"]["test_data"]
    assert test["bootstrap_unit"].startswith("videos" if name != "celeba-spoof" else "images")
    assert not any(layouts[name].rglob("*.npy")), "nothing is written into the dataset"


def test_oulu_npu_protocol_3_reports_acer_mean_and_std_over_its_six_folds(tmp_path, capsys):
    root = oulu_copy(tmp_path)
    out = tmp_path / "out"
    argv = ["liveness", "--data-root", str(root), "--protocol", "oulu-npu-3", "--smoke-test", "--frames_per_video", "1",
            "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(out), "--log-dir", str(tmp_path / "logs")]
    assert train_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| fold | system | apcer_worst | bpcer | acer_worst | eer |" in printed
    assert sum(f"| oulu-npu-3_{k} | model |" in printed for k in range(1, 7)) == 6
    row = next(line for line in printed.splitlines() if line.startswith("| **mean ± std** | model |"))
    spread = json.loads((out / "protocol.metrics.json").read_text())["aggregate"]["mean_std"]["model"]["acer_worst"]
    assert f"{spread[0]:.3f} ± {spread[1]:.3f}" in row
    folds = json.loads((out / "protocol.metrics.json").read_text())["folds"]
    assert np.isclose(spread[0], np.mean([f["test"]["acer_worst"] for f in folds.values()]))


def test_the_lists_writer_matches_the_shipped_form(tmp_path):
    path = tmp_path / "Train.txt"
    write_oulu_list(path, ["1_1_01_1", "1_1_01_4"])
    assert path.read_text() == "+1,1_1_01_1\n-2,1_1_01_4\n"


@pytest.mark.slow
def test_tune_on_oulu_npu_protocol_3_runs_every_fold_and_reports_mean_and_std(tmp_path, capsys, shared_ray):
    """The search end to end (about 70 s on 2 cores): every trial trains the six folds."""
    from faceauth import tune as tune_cli

    root = oulu_copy(tmp_path)
    argv = ["liveness", "--data-root", str(root), "--protocol", "oulu-npu-3", "--smoke-test", "--frames_per_video", "1",
            "--cache-dir", str(tmp_path / "cache"), "--storage", str(tmp_path / "runs"), "--name", "oulu"]
    assert tune_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert sum(f"| oulu-npu-3_{k} | model |" in printed for k in range(1, 7)) == 6
    assert "| **mean ± std** | model |" in printed
    metrics = json.loads((tmp_path / "runs" / "oulu" / "best" / "metrics.json").read_text())
    assert metrics["protocol"] == "oulu-npu-3" and len(metrics["folds"]) == 6
    assert set(metrics["aggregate"]["mean_std"]["model"]) >= {"acer_worst", "apcer_worst", "bpcer"}
    assert "| **mean ± std** | model |" in (tmp_path / "runs" / "oulu" / "best" / "report.md").read_text()
    assert (tmp_path / "runs" / "oulu" / "best" / "model.onnx").is_file()


def test_temporal_frames_are_cropped_to_one_face_window_per_video(layouts):
    from faceauth.tasks.temporal.videos import Video, read_frames

    video = next((layouts["replay-attack"] / "train" / "real").glob("*.mov"))
    frames = read_frames(Video(video, False, ""))
    assert len({f.shape for f in frames}) == 1 and frames[0].shape[:2] == (FACE, FACE)
    assert all(background_share(f) < 0.15 for f in frames)  # the face moves a pixel a frame inside one window
    plain = read_frames(Video(next((layouts["casia-fasd"] / "train_release" / "1").glob("*.avi")), False, ""))
    assert plain[0].shape[:2] == CANVAS  # CASIA-FASD ships no boxes: whole frames


def test_trained_on_casia_fasd_scored_on_replay_attacks_test_side(layouts, tmp_path, capsys):
    """Training where CASIA-FASD lies, then a cross-dataset test on Replay-Attack given as it ships."""
    from faceauth import evaluate as evaluate_cli

    out = tmp_path / "out"
    argv = ["liveness", "--data-root", str(layouts["casia-fasd"]), "--smoke-test", "--cache-dir", str(tmp_path / "cache"),
            "--output-dir", str(out), "--log-dir", str(tmp_path / "logs")]
    assert train_cli.main(argv) == 0
    test = json.loads((out / "protocol.metrics.json").read_text())["folds"]["standard"]["test_data"]
    assert test["bootstrap_unit"].startswith("videos") and test["bootstrap_units"] == 24  # 2 test subjects x 12 videos
    assert not any(layouts["casia-fasd"].rglob("*.npy")), "nothing is written into the dataset"
    model = out / "folds" / "standard" / "liveness_best.pth"
    result = tmp_path / "eval.json"
    assert evaluate_cli.main(["--model-path", str(model), "--test-data", str(layouts["replay-attack"]),
                              "--output-json", str(result)]) == 0
    details = json.loads(result.read_text())["details"]
    assert details["data"] == f"{layouts['replay-attack']} (its test side)"
    assert details["bona_fide"] == 4 * 2 and details["attacks"] == 6 * 2  # the test clients' videos, 2 frames each
    assert set(details["attack_types"].replace(",", "").split()[::2]) == {"print", "mobile", "highdef"}


def test_a_video_linked_from_several_folds_is_decoded_once(layouts, tmp_path, monkeypatch):
    from faceauth.tasks.liveness import data

    calls = []
    real = data.sampled_frames
    monkeypatch.setattr(data, "sampled_frames", lambda path, count: calls.append(path) or real(path, count))
    video = next((layouts["casia-fasd"] / "train_release" / "1").glob("*.avi"))
    for fold in ("a", "b"):
        (tmp_path / fold).mkdir()
        (tmp_path / fold / "v.avi").symlink_to(video)
    config = build_config(LivenessConfig, {"image_size": 16, "frames_per_video": 3, "cache_dir": str(tmp_path / "cache")})
    first = [decoder(config)(tmp_path / "a" / f"v.avi#{k}", 16) for k in range(3)]
    second = [decoder(config)(tmp_path / "b" / f"v.avi#{k}", 16) for k in range(3)]
    assert len(calls) == 1 and all(np.array_equal(a, b) for a, b in zip(first, second))
    other = build_config(LivenessConfig, {"image_size": 16, "frames_per_video": 2, "cache_dir": str(tmp_path / "cache")})
    decoder(other)(tmp_path / "b" / "v.avi#1", 16)
    assert len(calls) == 2  # other settings: decoded again
