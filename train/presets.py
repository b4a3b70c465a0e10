"""Every preset's settings, one frozen definition per preset: what `edgesign train --preset NAME`
uses wherever an option is not given, and why (the measurements behind each choice).

The network of each preset is built in `models.py` (Keras is imported only there); everything
else a preset decides is here. No heavy imports: the command line reads these at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the fusion of a landmark model whose preset names none (convert reads older training folders)
DEFAULT_FUSION = {"cnn_weight": 0.5, "method": "mean"}


@dataclass(frozen=True)
class Preset:
    name: str
    #: epochs when --epochs is not given
    epochs: int
    #: the input side the network is designed for (--size overrides it)
    input_size: int
    #: the contrast step of the preprocessing (--contrast overrides it)
    contrast: str = "none"
    #: label smoothing (--label-smoothing overrides it)
    label_smoothing: float = 0.0
    #: how many views of each frame the device averages (`VIEW_SETS`; --views overrides it)
    views: int = 1
    #: below which top probability of the first view the others run (--more-views-below)
    more_views_below: float | None = None
    #: the augmentation steps (--augment-steps overrides them)
    augment_steps: tuple = ("geometry", "lighting")
    #: wider augmentation ranges (for photos of rooms rather than tidy data sets)
    wide_augment: bool = False
    #: whether `--landmarks auto` trains the landmark classifier when photo folders are given
    landmarks: bool = False
    #: how the CNN's probabilities and the landmark classifier's become one (device/hands/fusion.py)
    fusion_cnn_weight: float = 0.5
    fusion_method: str = "mean"
    #: what the device answers when the tracker finds no hand: "nothing" or "cnn"
    no_hand: str = "nothing"

    @property
    def fusion(self) -> dict:
        return {"cnn_weight": self.fusion_cnn_weight, "method": self.fusion_method}


#: the reference article's 55,801-parameter CNN on Sign MNIST: 25 epochs, where the validation loss
#: stopped improving (4-7 minutes on 2 cores: benchmarks/results/pipeline.json)
ARTICLE = Preset("article", epochs=25, input_size=28)

#: a smaller, better CNN for Sign MNIST and MNIST: 20 epochs, where the validation loss stopped
IMPROVED = Preset("improved", epochs=20, input_size=28)

#: for real camera frames (the main job, `make all`). Each choice measured on photos of other
#: sessions (benchmarks/realworld_recipes.py, ablate_augment.py, hands_accuracy.md):
#: - epochs: 30 beat 15 by 2-3 points (two seeds) and 45 added nothing; 20 kept the main job's
#:   figures (Sign MNIST int8 99.90% against 99.74%, asl_photos/test fused 95.42% against 95.69%,
#:   one seed) in two thirds of the time, though the CNN alone fell 4 points there
#:   (docs/research-log.md, 2026-12-07);
#: - input 32: 32 and 48 were level (48 +1.8 points, one seed) and 32 needs under half the compute
#:   and tensor arena;
#: - contrast stretch: each image's levels spread beat raw levels by 5 points (two seeds);
#: - label smoothing 0.1: +2 points on photos, +1 on Sign MNIST (two seeds);
#: - 7 views beat 1, 3 and 5 (two seeds), the six extra ones only below 0.7 (about two views per
#:   photo on average, as accurate as all seven);
#: - augmentation: geometry with lighting beat none by 7 points; mirroring cost 16 and blur+noise
#:   3.5; the other steps moved it by less than run-to-run noise;
#: - landmarks: the fusion beat the CNN alone by 34 points on people never seen (leave one photo
#:   source out);
#: - fusion: the plain mean; a quarter for the CNN and a half were level on people never seen
#:   (70.7% / 70.1% on asl_letters, 79.9% / 80.0% on asl_photos/test), the half gave 95.7%
#:   against 93.3% on asl_photos/test with both sources in training;
#: - no hand: nothing, so a room gives no letters, though the CNN's answer added 3.7 and 5.9
#:   points on the held-out photos.
REALWORLD = Preset(
    "realworld",
    epochs=20,
    input_size=32,
    contrast="stretch",
    label_smoothing=0.1,
    views=7,
    more_views_below=0.7,
    wide_augment=True,
    landmarks=True,
)

PRESETS = {p.name: p for p in (ARTICLE, IMPROVED, REALWORLD)}


def preset(name: str | None) -> Preset:
    """The named preset; the article's for a model without one (finetuning older models)."""
    return PRESETS.get(name, ARTICLE)
