"""OULU-NPU as it ships (Boulkenafet et al., FG 2017):

    Train_files/<P>_<S>_<UU>_<F>.avi   (+ .txt: the eye positions of each frame)   users 01-20
    Dev_files/...                                                                   users 21-35
    Test_files/...                                                                  users 36-55
    Protocols/Protocol_1/{Train,Dev,Test}.txt          Protocol_2 the same
    Protocols/Protocol_3/{Train,Dev,Test}_<k>.txt      k = 1..6 (leave phone k out); Protocol_4 the same

A video's name is Phone_Session_User_File; File is its access type: 1 bona fide, 2 and 3 print attacks
(printers 1 and 2), 4 and 5 video replays (displays 1 and 2). A protocol line is `label,videoname`
(`+1,1_1_01_1`), positive for bona fide; the sign must agree with the File digit. Dev is the validation
side (the operating threshold is chosen there), Test the test side. Reported as the field reports it:
APCER of the worst attack type (print, replay), BPCER and ACER per protocol, mean and std over the
six folds of protocols 3 and 4.
"""

from __future__ import annotations

import re
from pathlib import Path

from faceauth.io.errors import FaceauthError
from faceauth.tasks.pad_datasets.media import FoldLists, Media, check_media, relative

NAME = "oulu-npu"
EXPECTED = ("Train_files/, Dev_files/ and Test_files/ with <phone>_<session>_<user>_<file>.avi videos, and "
            "Protocols/Protocol_<n>/ with the protocol lists")
FOLDERS = {"train": "Train_files", "val": "Dev_files", "test": "Test_files"}
LIST_NAMES = {"train": "Train", "val": "Dev", "test": "Test"}
# The attack types are the two kinds of attack instrument (ISO/IEC 30107-3's PAI species), over which
# OULU-NPU's protocols take the worst APCER; the printer or display is the file digit (2/3, 4/5).
ACCESS = {1: "", 2: "print", 3: "print", 4: "replay", 5: "replay"}
VIDEO = re.compile(r"([1-6])_([1-3])_(\d{2})_([1-5])")
# The official protocols: 1 and 2 one fold each; 3 and 4 one fold per held-out phone.
SUB_PROTOCOLS = {1: 0, 2: 0, 3: 6, 4: 6}
PROTOCOLS = tuple(f"oulu-npu-{n}" for n in SUB_PROTOCOLS)


def detect(root: Path) -> bool:
    return (root / "Protocols").is_dir() and any((root / folder).is_dir() for folder in FOLDERS.values())


def read(root: Path) -> list[Media]:
    """Every video of the three folders; a name outside the naming scheme is an error naming it."""
    media, strange = [], []
    for split, folder in FOLDERS.items():
        directory = root / folder
        for path in sorted(directory.glob("*.avi")) if directory.is_dir() else []:
            match = VIDEO.fullmatch(path.stem)
            if not match:
                strange.append(path.name)
                continue
            access = int(match.group(4))
            media.append(Media(path.resolve(), relative(path, root), split, ACCESS[access], match.group(3)))
    if strange:
        raise FaceauthError(f"{root} (OULU-NPU): {len(strange)} video name(s) outside <phone 1-6>_<session 1-3>_<user NN>_"
                            f"<file 1-5>.avi, e.g. {strange[0]}; rename or move them out")
    return check_media(media, root, NAME, EXPECTED)


def _protocol_folder(root: Path, number: int) -> Path:
    for name in (f"Protocol_{number}", f"Protocol{number}", f"protocol_{number}"):
        if (root / "Protocols" / name).is_dir():
            return root / "Protocols" / name
    raise FaceauthError(f"{root}/Protocols/Protocol_{number} is missing: OULU-NPU ships it beside Train_files/; "
                        "copy the Protocols folder of the release there")


def _list_file(folder: Path, split: str, fold: int) -> Path:
    """`Train.txt` for protocols 1 and 2, `Train_<k>.txt` (or `Train<k>.txt`) for the folds of 3 and 4."""
    stem = LIST_NAMES[split]
    names = [f"{stem}.txt"] if fold == 0 else [f"{stem}_{fold}.txt", f"{stem}{fold}.txt"]
    for name in names:
        for candidate in (folder / name, folder / name.lower()):
            if candidate.is_file():
                return candidate
    raise FaceauthError(f"{folder / names[0]} is missing: protocol {folder.name} lists its {split} side there")


def read_list(path: Path, split: str, present: set[str]) -> frozenset[str]:
    """The relpaths a protocol list names; every bad line is an error naming the file and the line."""
    chosen = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            raise FaceauthError(f"{where}: expected 'label,videoname' (e.g. +1,1_1_01_1), got {line.strip()!r}")
        label, video = fields
        match = VIDEO.fullmatch(video.removesuffix(".avi"))
        if not re.fullmatch(r"[+-]?\d+", label) or int(label) == 0 or not match:
            raise FaceauthError(f"{where}: unknown label or video name in {line.strip()!r}; a line reads +1,<video> for "
                                "bona fide or a negative number for an attack, the video as <phone>_<session>_<user>_<file>")
        if (int(label) > 0) != (match.group(4) == "1"):
            raise FaceauthError(f"{where}: label {label} disagrees with {video} (file digit {match.group(4)}: "
                                f"{'bona fide' if match.group(4) == '1' else 'an attack'})")
        relpath = f"{FOLDERS[split]}/{match.group(0)}.avi"
        if relpath not in present:
            raise FaceauthError(f"{where}: names {video}, but {relpath} is not in the data; restore the video or "
                                "remove the line")
        chosen.append(relpath)
    if not chosen:
        raise FaceauthError(f"{path} lists no videos")
    return frozenset(chosen)


def protocol(root: Path, name: str, present: set[str]) -> list[FoldLists]:
    """The folds of `oulu-npu-<n>`: one for protocols 1 and 2, six (one per held-out phone) for 3 and 4;
    `present`: the relpaths of the videos there are (a line naming another is an error)."""
    number = int(name.rsplit("-", 1)[1])
    folder = _protocol_folder(root, number)
    folds = []
    for fold in range(1, SUB_PROTOCOLS[number] + 1) if SUB_PROTOCOLS[number] else [0]:
        sides = {split: read_list(_list_file(folder, split, fold), split, present) for split in LIST_NAMES}
        folds.append(FoldLists(f"{name}_{fold}" if fold else name, sides["train"], sides["val"], sides["test"]))
    return folds
