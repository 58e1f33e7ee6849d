"""Tiny copies of public anti-spoofing datasets in the layouts they ship in (docs/pad-datasets.md): the
same folders, file names, label encodings and side files, with a few short clips of drawn faces in
place of the recordings. Each clip shows one face (faceauth's synthetic drawing for its class) on a
plain background at a known box, so a crop to the shipped box lands on the face."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceauth.tasks.liveness.synthetic import draw_sample

FRAMES = 4
CANVAS = (72, 96)  # height, width of a frame
FACE = 40  # side of the face in a frame


def face_position(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(0, CANVAS[1] - FACE)), int(rng.integers(0, CANVAS[0] - FACE))


def frames_of(kind: str, rng: np.random.Generator, x: int, y: int, frames: int = FRAMES) -> list[np.ndarray]:
    """`frames` frames with the face of `kind` ("live" or an attack type) at (x, y), moving a little."""
    face = draw_sample(rng, FACE, kind, 0.3)
    out = []
    for index in range(frames):
        frame = np.full((*CANVAS, 3), 90, np.uint8)
        dx = min(index, CANVAS[1] - FACE - x)
        frame[y:y + FACE, x + dx:x + dx + FACE] = face
        out.append(frame)
    return out


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    """Motion-JPEG in the file's container (.avi or .mov), as Replay-Attack ships its videos."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = CANVAS[1], CANVAS[0], "yuvj420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def clip(path: Path, kind: str, rng: np.random.Generator, frames: int = FRAMES) -> tuple[int, int]:
    """Write a clip; returns where the face starts (x, y)."""
    x, y = face_position(rng)
    write_clip(path, frames_of(kind, rng, x, y, frames))
    return x, y


# ---------------------------------------------------------------------------------------------- OULU-NPU

OULU_ATTACK = {2: "print", 3: "print", 4: "replay", 5: "replay"}
OULU_USERS = {"Train_files": (1, 2), "Dev_files": (21,), "Test_files": (36,)}


def oulu_name(phone: int, session: int, user: int, access: int) -> str:
    return f"{phone}_{session}_{user:02d}_{access}"


def write_oulu(root: Path, users: dict[str, tuple[int, ...]] = OULU_USERS, phones=range(1, 7), sessions=(1, 2, 3),
               seed: int = 0, frames: int = FRAMES) -> Path:
    """Train_files/Dev_files/Test_files with .avi clips and eye-position .txt files, and the four
    protocols' lists (Protocol_3 and 4 with their six folds), written by the rules the dataset's paper
    gives; attacks are labelled -1 (print) and -2 (replay)."""
    rng = np.random.default_rng(seed)
    for folder, ids in users.items():
        for phone in phones:
            for session in sessions:
                for user in ids:
                    for access in range(1, 6):
                        stem = root / folder / oulu_name(phone, session, user, access)
                        x, y = clip(stem.with_suffix(".avi"), "live" if access == 1 else OULU_ATTACK[access], rng, frames)
                        eyes = [f"{i}, {x + 12 + i}, {y + 15}, {x + 28 + i}, {y + 15}" for i in range(frames)]
                        stem.with_suffix(".txt").write_text("\n".join(eyes) + "\n")
    lists = root / "Protocols"
    for number in (1, 2):
        for side, folder in (("Train", "Train_files"), ("Dev", "Dev_files"), ("Test", "Test_files")):
            write_oulu_list(lists / f"Protocol_{number}" / f"{side}.txt", _oulu_rule(number, side, folder, users, phones, sessions))
    for number in (3, 4):
        for fold in phones:
            for side, folder in (("Train", "Train_files"), ("Dev", "Dev_files"), ("Test", "Test_files")):
                write_oulu_list(lists / f"Protocol_{number}" / f"{side}_{fold}.txt",
                                _oulu_rule(number, side, folder, users, phones, sessions, fold))
    return root


def _oulu_rule(number, side, folder, users, phones, sessions, held=None) -> list[str]:
    test = side == "Test"
    names = []
    for phone in phones:
        for session in sessions:
            for user in users[folder]:
                for access in range(1, 6):
                    if number == 1 and (session == 3) != test:
                        continue
                    if number in (2, 4) and access != 1 and (access in (3, 5)) != test:
                        continue
                    if number in (3, 4) and (phone == held) != test:
                        continue
                    if number == 4 and (session == 3) != test:
                        continue
                    names.append(oulu_name(phone, session, user, access))
    return names


def write_oulu_list(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    label = {1: "+1", 2: "-1", 3: "-1", 4: "-2", 5: "-2"}
    path.write_text("".join(f"{label[int(n[-1])]},{n}\n" for n in names))


# -------------------------------------------------------------------------------------------- CASIA-FASD

CASIA = {"1": "live", "2": "live", "HR_1": "live", "3": "print", "4": "print", "HR_2": "print",
         "5": "cutout", "6": "cutout", "HR_3": "cutout", "7": "replay", "8": "replay", "HR_4": "replay"}


def write_casia(root: Path, train_subjects: int = 5, test_subjects: int = 2, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    for release, count in (("train_release", train_subjects), ("test_release", test_subjects)):
        for subject in range(1, count + 1):
            for name, kind in CASIA.items():
                clip(root / release / str(subject) / f"{name}.avi", kind, rng)
    return root


# ----------------------------------------------------------------------------------------- Replay-Attack

REPLAY_CLIENTS = {"train": (1, 2), "devel": (3,), "test": (5,)}


def write_replay(root: Path, clients: dict[str, tuple[int, ...]] = REPLAY_CLIENTS, seed: int = 2) -> Path:
    """real/ and attack/{fixed,hand}/ .mov clips with their face-locations/ .face files (one box per
    frame; the last frame has none, as where the detector failed)."""
    rng = np.random.default_rng(seed)
    for group, ids in clients.items():
        for client in ids:
            videos = [(f"real/client{client:03d}_session01_webcam_authenticate_{light}_{take}", "live")
                      for light in ("controlled", "adverse") for take in (1, 2)]
            videos += [(f"attack/{support}/attack_{device}_client{client:03d}_session01_{source}_{kind}_{light}",
                        "print" if device == "print" else "replay")
                       for support in ("fixed", "hand") for device, source, kind in
                       (("print", "highdef", "photo"), ("mobile", "mobile", "video"), ("highdef", "highdef", "video"))
                       for light in ("controlled",)]
            for relpath, kind in videos:
                x, y = clip(root / group / f"{relpath}.mov", kind, rng)
                rows = [f"{i} {x + i} {y} {FACE} {FACE}" for i in range(FRAMES - 1)] + [f"{FRAMES - 1} 0 0 0 0"]
                face = root / "face-locations" / group / f"{relpath}.face"
                face.parent.mkdir(parents=True, exist_ok=True)
                face.write_text("\n".join(rows) + "\n")
    return root


# ----------------------------------------------------------------------------------------- CelebA-Spoof

CELEBA_KINDS = {"live": (0, "live"), "photo": (1, "print"), "poster": (2, "print"), "pc": (7, "replay"),
                "phone": (9, "replay"), "face_mask": (4, "mask")}


def write_celeba_spoof(root: Path, train_subjects: int = 5, test_subjects: int = 2, per_kind: int = 2, seed: int = 3) -> Path:
    """CelebA_Spoof/Data/{train,test}/<subject>/{live,spoof}/<id>.jpg with _BB.txt boxes (224 frame) and
    metas/intra_test/{train,test}_label.json (44 labels; [40] spoof type, [43] live/spoof)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "CelebA_Spoof"
    number = 0
    for split, count in (("train", train_subjects), ("test", test_subjects)):
        labels = {}
        for subject in range(count):
            sid = f"{subject + (0 if split == 'train' else 1000):d}"
            for name, (code, drawn) in CELEBA_KINDS.items():
                for _ in range(per_kind):
                    number += 1
                    folder = "live" if code == 0 else "spoof"
                    key = f"Data/{split}/{sid}/{folder}/{number:06d}.jpg"
                    x, y = face_position(rng)
                    frame = frames_of(drawn, rng, x, y, 1)[0]
                    (base / key).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(frame).save(base / key, quality=95)
                    sx, sy = 224 / CANVAS[1], 224 / CANVAS[0]
                    (base / key).with_name(f"{number:06d}_BB.txt").write_text(
                        f"{x * sx:.0f} {y * sy:.0f} {FACE * sx:.0f} {FACE * sy:.0f} 0.99\n")
                    labels[key] = [0] * 40 + [code, 0 if code == 0 else 1, 0 if code == 0 else 1, 0 if code == 0 else 1]
        metas = base / "metas" / "intra_test"
        metas.mkdir(parents=True, exist_ok=True)
        (metas / f"{split}_label.json").write_text(json.dumps(labels))
    return root
