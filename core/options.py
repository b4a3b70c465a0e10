"""The command line's shared pieces: how a part adds a subcommand, and argparse types for numeric
options, used by the commands of every part (no heavy imports: the command line is built at
start-up, on the Pi too).

A number out of range is refused by argparse itself: one line naming the option, exit 2, before
anything runs or is written; half-honouring it (a weight of 0, a seed numpy refuses mid-run, an
arena margin that ends in `std::bad_alloc`) would fail late, or not at all.
"""

from __future__ import annotations

import argparse
import math

#: the model input sides (pixels) a preprocessing spec may have: `train --size` and every bundle
MODEL_SIZES = (8, 256)
#: most interpreter threads a command takes (`run --threads`; core.interpreter.check_threads):
#: LiteRT crashes (SIGSEGV) when asked for far too many, and a Pi has 4 cores
MAX_THREADS = 64
#: the regions of interest a preprocessing spec may have (`train --roi`)
ROI_MODES = ("center", "full", "box")


def add_command(subparsers, name: str, run, *, description=None, epilog=None):
    """Add `edgesign NAME`, which calls `run(args)`; returns its parser, for the options.

    `run`'s docstring is the command's help: its first paragraph the line in `edgesign --help`,
    the rest the description atop `edgesign NAME --help` (or `description`, when given). argparse
    folds the line breaks, so the docstring is wrapped like any other.
    """
    summary, _, rest = (run.__doc__ or "").strip().partition("\n\n")
    parser = subparsers.add_parser(
        name, help=summary, description=description or rest or None, epilog=epilog
    )
    parser.set_defaults(func=run)
    return parser


def add_out_argument(parser, command: str, what: str = "output folder") -> None:
    """--out: the folder `edgesign COMMAND` writes whole (default artifacts/COMMAND), replacing
    only an empty one or an earlier output of the same command (`files.check_output_dir`)."""
    parser.add_argument(
        "--out",
        default=f"artifacts/{command}",
        help=f"{what} (default artifacts/{command}); replaced whole, but only if empty or an "
        f"earlier `edgesign {command}` output",
    )


def add_count(parser, flag: str, default: int, help: str, *, least=1, most=None, metavar="N"):
    """A whole-number option from `least` to `most` (no limit: None); its help ends with the
    default."""
    parser.add_argument(
        flag,
        type=number(int, least, most),
        default=default,
        metavar=metavar,
        help=f"{help} (default {default})",
    )


def number(kind, low: float, high: float | None = None, above: bool = False):
    """An argparse type: a finite `kind` (int or float) of at least `low` (above it if `above`)
    and at most `high`."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or not math.isfinite(value)
            or value < low
            or (above and value == low)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(
                f"expected {_describe(kind, low, high, above)}, not {text!r}"
            )
        return value

    return parse


def _describe(kind, low: float, high: float | None = None, above: bool = False) -> str:
    """What `number(kind, low, high, above)` accepts, in words."""
    what = "a whole number" if kind is int else "a number"
    least = _shown(low)
    if high is None:
        return f"{what} above {least}" if above else f"{what} of {least} or more"
    most = _shown(high)
    return f"{what} above {least} and at most {most}" if above else f"{what} from {least} to {most}"


def _shown(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
