"""Idiap Replay-Attack as it ships (Chingovska et al., BIOSIG 2012), one folder per archive:

    train/real/client001_session01_webcam_authenticate_adverse_1.mov
    train/attack/fixed/attack_print_client001_session01_highdef_photo_adverse.mov
    train/attack/hand/attack_mobile_client001_session01_mobile_video_controlled.mov
    devel/... test/...                                   (the same)
    face-locations/<train|devel|test>/<real|attack/fixed|attack/hand>/<same name>.face

train, devel and test are the `grandtest` protocol's sides (devel validates). An attack's type is what
displays it (print, mobile, highdef), as the dataset names it; its support (fixed, hand) is the folder.
The enrollment videos (enroll/) are for verification, not anti-spoofing, and are not read. The
`.face` files (one face box per frame) are used by faceauth.tasks.face_boxes to crop each frame.
"""

from __future__ import annotations

import re
from pathlib import Path

from faceauth.io.errors import FaceauthError
from faceauth.tasks.pad_datasets.media import Media, check_media, relative

NAME = "replay-attack"
EXPECTED = "train/, devel/ and test/, each with real/*.mov and attack/{fixed,hand}/*.mov"
GROUPS = {"train": "train", "devel": "val", "test": "test"}
REAL = re.compile(r"client(\d+)_session\d+_webcam_(authenticate|enroll)_(controlled|adverse)(_\d+)?")
ATTACK = re.compile(r"attack_(print|mobile|highdef)_client(\d+)_session\d+_(highdef|mobile)_(photo|video)_(controlled|adverse)")
SUFFIXES = (".mov", ".avi", ".mp4")


def detect(root: Path) -> bool:
    return any((root / group / "real").is_dir() and (root / group / "attack").is_dir() for group in GROUPS)


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in SUFFIXES and not p.name.startswith(".")) if folder.is_dir() else []


def read(root: Path) -> list[Media]:
    media, strange = [], []
    for group, split in GROUPS.items():
        for path in _videos(root / group / "real"):
            match = REAL.fullmatch(path.stem)
            if not match:
                strange.append(relative(path, root))
                continue
            media.append(Media(path.resolve(), relative(path, root), split, "", match.group(1)))
        for support in ("fixed", "hand"):
            for path in _videos(root / group / "attack" / support):
                match = ATTACK.fullmatch(path.stem)
                if not match:
                    strange.append(relative(path, root))
                    continue
                media.append(Media(path.resolve(), relative(path, root), split, match.group(1), match.group(2)))
    if strange:
        raise FaceauthError(f"{root} (Replay-Attack): {len(strange)} video name(s) with an unknown label, e.g. {strange[0]}; "
                            "real/ holds client<N>_session<N>_webcam_<purpose>_<light>[_<take>], attack/ holds "
                            "attack_<print|mobile|highdef>_client<N>_..._<photo|video>_<light>; rename or move them out")
    return check_media(media, root, NAME, EXPECTED)
