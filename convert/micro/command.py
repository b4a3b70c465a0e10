"""The `edgesign micro` subcommand (arguments only; the work is imported when it runs)."""

from __future__ import annotations

from edgesign.core.options import add_command, add_count, add_out_argument, number


def register_micro(subparsers) -> None:
    """Add `edgesign micro` to the parser."""
    p = add_command(subparsers, "micro", _run_micro)
    p.add_argument(
        "--bundle",
        default="artifacts/convert/bundle",
        help="bundle folder from `edgesign convert` (default: %(default)s)",
    )
    add_out_argument(p, "micro", "folder for the generated files and the report")
    p.add_argument(
        "--test",
        metavar="PATH",
        help="test set for the parity check: a CSV, an IDX images file or "
        "a folder of class folders (default: the bundle's self-test images)",
    )
    p.add_argument(
        "--max-flash",
        metavar="SIZE",
        help="refuse a model larger than this many bytes (suffixes K and M: 64K, 1M)",
    )
    p.add_argument(
        "--arena-margin",
        metavar="PERCENT",
        # 1e9 percent asked TFLite Micro for an arena it cannot allocate (std::bad_alloc)
        type=number(float, 0, 1000),
        default=25.0,
        help="added to the smallest working tensor arena (default: %(default)g)",
    )
    p.add_argument(
        "--arduino",
        action="store_true",
        help="name the source model_data.cpp (the Arduino IDE "
        "compiles .cpp, not .cc, files of a sketch)",
    )
    add_count(
        p,
        "--trace",
        32,
        "differing images to trace operator by operator to find where outputs start to differ",
        least=0,
    )


def _run_micro(args) -> int:
    """export the int8 model as C++ source for TensorFlow Lite Micro

    Write model_data.h/.cc for an Arduino, Zephyr or STM32 project: the model as an aligned const
    array, the operators to register, the quantization, the class names and the tensor arena size
    measured with TFLite Micro's interpreter; check that TFLite Micro and LiteRT give the same int8
    outputs; write report.json and report.md.
    """
    from edgesign.convert.micro.export import export_micro, parse_size
    from edgesign.core.text import printable

    max_flash = parse_size(args.max_flash) if args.max_flash is not None else None
    report = export_micro(
        args.bundle,
        args.out,
        test_path=args.test,
        max_flash=max_flash,
        margin=args.arena_margin / 100.0,
        arduino=args.arduino,
        trace_limit=args.trace,
    )
    parity = report["parity"]
    pi = parity["against"]["litert"]
    print(f"wrote {', '.join(report['files'])}, report.json, report.md to {printable(args.out)}")
    print(
        f"flash {report['flash_bytes']} bytes (model); arena {report['arena_bytes_min']} bytes "
        "minimum, "
        f"{report['arena_bytes']} with margin; {len(report['ops'])} operators: "
        f"{', '.join(report['ops'])}"
    )
    if pi["identical"]:
        print(f"parity: TFLite Micro and LiteRT give identical int8 outputs on {parity['source']}")
    else:
        print(
            f"parity: TFLite Micro and LiteRT differ on {pi['images_differing']} of {pi['images']} "
            "images "
            f"({parity['source']}), by at most {pi['max_abs_diff']} int8 step(s); "
            f"top-1 differs on {pi['top1_disagreements']}; see report.md"
        )
    return 0
