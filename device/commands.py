"""Subcommands of the device part (registered by edgesign.device.cli)."""


def register(subparsers) -> None:
    """Add this part's subcommands to the `edgesign` parser."""
