"""The view sets `--views N` names (no imports: the command line reads them at start-up).

A view is a box (x, y, width, height) inside the region of interest, as fractions of it; the
device runs the model on each view of a frame and averages the probabilities (`preprocess_views`).
"""

#: Views (x, y, width, height, as fractions of the region of interest) for `--views N`: the whole
#: region; then the central 90% and 80%; then the four 90% corners.
VIEW_SETS = {
    1: ((0.0, 0.0, 1.0, 1.0),),
    3: ((0.0, 0.0, 1.0, 1.0), (0.05, 0.05, 0.9, 0.9), (0.1, 0.1, 0.8, 0.8)),
    5: ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.9, 0.9), (0.0, 0.1, 0.9, 0.9), (0.1, 0.0, 0.9, 0.9),
        (0.1, 0.1, 0.9, 0.9)),
    7: ((0.0, 0.0, 1.0, 1.0), (0.05, 0.05, 0.9, 0.9), (0.1, 0.1, 0.8, 0.8), (0.0, 0.0, 0.9, 0.9),
        (0.0, 0.1, 0.9, 0.9), (0.1, 0.0, 0.9, 0.9), (0.1, 0.1, 0.9, 0.9)),
}
