"""Every benchmark in turn, on the full data: host pipeline, real hands, device speed, TFLite Micro.

    EDGESIGN_DATA=../shared/data python benchmarks/run_all.py [--out artifacts/bench]

The device and microcontroller benchmarks use the Sign MNIST `improved` bundle the pipeline
benchmark has just written. Takes about 40 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_device  # noqa: E402
import bench_hands_accuracy  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_realworld  # noqa: E402
import micro_parity  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="artifacts/bench", help="where models and reports go (default %(default)s)"
    )
    args = parser.parse_args(argv)
    data = os.environ.get("EDGESIGN_DATA")
    if not data:
        parser.error("set EDGESIGN_DATA to the data folder")
    out = Path(args.out)
    bundle = out / "sign_improved" / "convert" / "bundle"
    steps = [
        ("host pipeline", bench_pipeline.main, ["--data", data, "--out", str(out)]),
        ("real hands", bench_realworld.main, ["--data", data, "--out", str(out / "realworld")]),
        (
            "people never seen (leave one source out)",
            bench_hands_accuracy.main,
            [
                "--data",
                data,
                "--out",
                str(out / "hands"),
                "--results",
                str(out / "hands_accuracy.json"),
            ],
        ),
        ("device speed", bench_device.main, ["--bundle", str(bundle), "--data", data]),
        ("TFLite Micro", micro_parity.main, ["--bundle", str(bundle)]),
    ]
    for title, run, arguments in steps:
        print(f"\n===== {title} =====", flush=True)
        code = run(arguments)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
