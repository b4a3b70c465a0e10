"""`compare --profile NAME --images FOLDER`: the device pipeline with and without the user's profile
on labelled photos, per class. The photos should be other captures than the enrollment's (another
day, another light), or the comparison says only that the profile remembers its own samples."""

from __future__ import annotations

import numpy as np

from edgesign.core.errors import EdgesignError
from edgesign.device.enroll import folder_letters, read_photos


def profile_gain(bundle, images, profile: str, loaded=None) -> dict:
    """Accuracy of the bundle's pipeline on `images` (class folders) without and with `profile`
    (`loaded`: that profile as `profile_for` read it; read here otherwise, once); a photo without
    a found hand counts as wrong."""
    from edgesign.device.pipeline import pipeline_for

    if loaded is None:
        loaded = check_profile_option(bundle, images, profile)
    classes = list(bundle.classes)
    letters = folder_letters(images, classes)
    labels = [letter for letter, paths in letters.items() for _ in paths]
    paths = [path for letter in letters for path in letters[letter]]
    answers = {}
    for name, with_profile in (("without", None), ("with", loaded)):
        pipeline = pipeline_for(bundle, profile=with_profile)
        answers[name] = [
            p.label if p.probs is not None else None for p in read_photos(paths, pipeline)
        ]
    out = {"profile": profile, "images": len(paths), "per_class": []}
    for name, said in answers.items():
        out[f"accuracy_{name}"] = float(np.mean([s == t for s, t in zip(said, labels)]))
    for letter in classes:
        idx = [i for i, t in enumerate(labels) if t == letter]
        if idx:
            out["per_class"].append(
                {
                    "class": letter,
                    "support": len(idx),
                    **{
                        f"recall_{name}": float(np.mean([said[i] == letter for i in idx]))
                        for name, said in answers.items()
                    },
                }
            )
    return out


def check_profile_option(bundle, images, profile: str):
    """`compare --profile`, read once and checked against the bundle before any work: ProfileError
    for a profile of another bundle, or a bundle without landmarks."""
    from edgesign.device.profiles import profile_for

    if not images:
        raise EdgesignError("--profile needs --images: labelled photos to compare on")
    return profile_for(profile, bundle)[0]


def profile_lines(result: dict) -> list:
    """The comparison as terminal lines: overall, then the classes that changed."""
    lines = [
        f"profile {result['profile']} on {result['images']} photos: "
        f"{100 * result['accuracy_without']:.2f}% without, {100 * result['accuracy_with']:.2f}% "
        f"with ({100 * (result['accuracy_with'] - result['accuracy_without']):+.2f} points)"
    ]
    changed = [
        f"{r['class']} {100 * r['recall_without']:.0f}->{100 * r['recall_with']:.0f}%"
        for r in result["per_class"]
        if r["recall_with"] != r["recall_without"]
    ]
    if changed:
        lines.append("  per class (recall): " + ", ".join(changed))
    return lines
