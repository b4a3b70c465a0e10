"""The deploy part's error: a step that failed on the way to the Pi."""

from edgesign.core.errors import EdgesignError


class DeployError(EdgesignError):
    """A deploy step that failed; the device keeps its previous release."""
