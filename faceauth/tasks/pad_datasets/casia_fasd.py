"""CASIA-FASD as it ships (Zhang et al., ICB 2012):

    train_release/<1..20>/{1,2,3,4,5,6,7,8,HR_1,HR_2,HR_3,HR_4}.avi
    test_release/<1..30>/{the same twelve names}.avi

The file name is the class: 1, 2 and HR_1 bona fide; 3, 4 and HR_2 a warped printed photo; 5, 6 and
HR_3 a cut printed photo (eye holes); 7, 8 and HR_4 a video replay. Subject folders restart at 1 in
test_release (test subject s is subject s + 20). The dataset ships no validation side: the last fifth
of the training subjects (17-20) validate (faceauth.tasks.pad_datasets.held_out_subjects). No face boxes ship.
"""

from __future__ import annotations

from pathlib import Path

from faceauth.io.errors import FaceauthError
from faceauth.tasks.pad_datasets.media import Media, check_media, held_out_subjects, relative

NAME = "casia-fasd"
EXPECTED = "train_release/<subject>/ and test_release/<subject>/ with the videos 1.avi .. 8.avi, HR_1.avi .. HR_4.avi"
KIND = {"1": "", "2": "", "HR_1": "", "3": "warped_photo", "4": "warped_photo", "HR_2": "warped_photo",
        "5": "cut_photo", "6": "cut_photo", "HR_3": "cut_photo", "7": "video_replay", "8": "video_replay", "HR_4": "video_replay"}
RELEASES = {"train_release": 0, "test_release": 20}


def detect(root: Path) -> bool:
    return all((root / release).is_dir() for release in RELEASES)


def read(root: Path) -> list[Media]:
    media, unknown = [], []
    for release, offset in RELEASES.items():
        subjects = [d for d in (root / release).iterdir() if d.is_dir() and not d.name.startswith(".")]
        bad = [d.name for d in subjects if not d.name.isdigit()]
        if bad:
            raise FaceauthError(f"{root / release}: subject folders are numbers (1, 2, ...); found {bad[0]!r}")
        held = held_out_subjects([d.name for d in subjects]) if release == "train_release" else set()
        for subject in sorted(subjects, key=lambda d: int(d.name)):
            for path in sorted(subject.glob("*.avi")):
                if path.stem not in KIND:
                    unknown.append(relative(path, root))
                    continue
                split = "test" if release == "test_release" else "val" if subject.name in held else "train"
                media.append(Media(path.resolve(), relative(path, root), split, KIND[path.stem], str(int(subject.name) + offset)))
    if unknown:
        raise FaceauthError(f"{root} (CASIA-FASD): {len(unknown)} video(s) with an unknown label, e.g. {unknown[0]}: the "
                            f"file name is the class ({', '.join(KIND)}); rename or move them out")
    return check_media(media, root, NAME, EXPECTED)
