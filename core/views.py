"""The view sets `--views N` names (no heavy imports: the command line reads them at start-up).

A view is a box (x, y, width, height) inside the region of interest, as fractions of it; the
device runs the model on each view of a frame and averages the probabilities (`preprocess_views`,
`probabilities.average_views`), running the views after the first only when the first is unsure
(`--more-views-below`).
"""

import argparse

_WHOLE = (0.0, 0.0, 1.0, 1.0)
_CENTRAL = ((0.05, 0.05, 0.9, 0.9), (0.1, 0.1, 0.8, 0.8))  # the central 90% and 80%
_CORNERS = ((0.0, 0.0, 0.9, 0.9), (0.0, 0.1, 0.9, 0.9), (0.1, 0.0, 0.9, 0.9), (0.1, 0.1, 0.9, 0.9))
#: Views (x, y, width, height, as fractions of the region of interest) for `--views N`: the whole
#: region; then the central 90% and 80%; then the four 90% corners.
VIEW_SETS = {
    1: (_WHOLE,),
    3: (_WHOLE, *_CENTRAL),
    5: (_WHOLE, *_CORNERS),
    7: (_WHOLE, *_CENTRAL, *_CORNERS),
}


def parse_probability(text: str) -> float:
    """The argparse type of --more-views-below: a number above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a probability above 0 and at most 1, not {text!r}"
        )
    return value


def view_set(count: int) -> tuple:
    """`PreprocessSpec.views` for `--views count`: empty for one view (the whole region alone)."""
    return VIEW_SETS[count] if count > 1 else ()


def add_view_arguments(parser, views_default: str, below_default: str) -> None:
    """--views and --more-views-below, for `train`, `convert` and `run` (each says its own
    default)."""
    parser.add_argument(
        "--views",
        type=int,
        choices=sorted(VIEW_SETS),
        default=None,
        help="how many views of each frame the device runs the model on, averaging the "
        "probabilities: 1 the whole region of interest; 3 adds its central 90%% and "
        "80%%; 5 the whole and its four 90%% corners; 7 all of these (7 model runs per "
        "frame). Training sees the whole region only. " + views_default,
    )
    parser.add_argument(
        "--more-views-below",
        type=parse_probability,
        default=None,
        metavar="P",
        help="run the views after the first only when the first view's top probability "
        "is below P (1: always). " + below_default,
    )
