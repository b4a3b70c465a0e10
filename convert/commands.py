"""Subcommands of the convert part (registered by edgesign.device.cli)."""


def register(subparsers) -> None:
    """Add this part's subcommands to the `edgesign` parser."""
    from .micro_command import register_micro

    register_micro(subparsers)
