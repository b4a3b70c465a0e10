"""The convert part's error: a quality gate that did not pass."""

from edgesign.core.errors import EdgesignError


class GateError(EdgesignError):
    """A quality gate (such as the int8 accuracy drop) that did not pass; exit code 3."""

    exit_code = 3
