"""Every benchmark in turn, on the full data: host pipeline, real hands, device speed, TFLite Micro.

    EDGESIGN_DATA=../shared/data python benchmarks/run_all.py [--out artifacts/bench] [--quick]

The device and microcontroller benchmarks use the Sign MNIST `improved` bundle the pipeline
benchmark has just written. Takes about 40 minutes on 2 cores; each step writes its JSON to
benchmarks/results/ (`--quick`: every step on a small slice of the data, all JSON in one
temporary folder).
"""

from __future__ import annotations

import sys

import bench_device
import bench_hands_accuracy
import bench_pipeline
import bench_realworld
import harness
import micro_parity


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument(
        "--out", default="artifacts/bench", help="where models and reports go (default %(default)s)"
    )
    args = harness.parse(parser, argv)
    out = harness.work_folder(args, "out")
    data = str(args.full_data)  # each step takes its own --quick slice of it
    common = ["--data", data, "--results", str(args.results), *(["--quick"] if args.quick else [])]
    bundle = out / "sign_improved" / "convert" / "bundle"
    steps = [
        ("host pipeline", bench_pipeline.main, ["--out", str(out)]),
        ("real hands", bench_realworld.main, ["--out", str(out / "realworld")]),
        (
            "people never seen (leave one source out)",
            bench_hands_accuracy.main,
            ["--out", str(out / "hands")],
        ),
        ("device speed", bench_device.main, ["--bundle", str(bundle)]),
        ("TFLite Micro", micro_parity.main, ["--bundle", str(bundle)]),
    ]
    for title, run, arguments in steps:
        print(f"\n===== {title} =====", flush=True)
        code = run([*arguments, *common])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
