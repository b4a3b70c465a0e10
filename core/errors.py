"""The few error types edgesign raises; the CLI prints them as one line."""


class EdgesignError(Exception):
    """A problem the user can act on; printed without a traceback."""

    exit_code = 2


class DataError(EdgesignError):
    """A data set file or folder that cannot be read as promised."""


class BundleError(EdgesignError):
    """A deployable bundle that is missing, corrupt or inconsistent."""


class ModelError(EdgesignError):
    """A model that cannot be built, converted or run as asked."""


class FrameError(EdgesignError):
    """A frame whose shape or layout does not match what was declared."""


class CameraError(EdgesignError):
    """A frame source that cannot be opened or stopped delivering frames."""
