"""TFLite Micro footprint and TFLM-vs-LiteRT parity on a whole test set; prints tables.

    EDGESIGN_DATA=../shared/data python benchmarks/micro_parity.py \\
        [--bundle artifacts/convert/bundle]

Uses the whole Sign MNIST test set (7,172 images) unless --test names another. Writes
benchmarks/results/micro_parity.json. `--quick`: the first 300 test images.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import harness


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data="optional", bundle="artifacts/convert/bundle")
    parser.add_argument("--test", help="test set (default: DATA/sign_mnist_test.csv.gz)")
    args = harness.parse(parser, argv)
    test = harness.data_path(args, args.test, "sign_mnist_test.csv.gz")
    if test is None:
        parser.error("give --test, or --data (or set EDGESIGN_DATA)")

    from edgesign.convert.micro.export import micro_footprint, model_inputs
    from edgesign.convert.micro.model import read_model_file
    from edgesign.convert.micro.parity import parity
    from edgesign.device.bundle import load_bundle
    from edgesign.train.datasets import load_path

    bundle = load_bundle(args.bundle)
    footprint = micro_footprint(bundle.model_path)
    data = load_path(test, bundle.spec, classes=bundle.classes)
    inputs = model_inputs(data.images, bundle)
    start = time.perf_counter()
    result = parity(
        bundle.model_path.read_bytes(),
        bundle.model_path,
        read_model_file(bundle.model_path),
        inputs,
        footprint["arena_bytes"],
        data.labels,
    )
    seconds = time.perf_counter() - start

    print(f"TFLite Micro {footprint['tflite_micro_version']}, model {bundle.model_path}")
    print(f"{'flash (model bytes)':<34}{footprint['flash_bytes']:>10}")
    print(f"{'arena, smallest that works':<34}{footprint['arena_bytes_min']:>10}")
    print(f"{'arena with margin':<34}{footprint['arena_bytes']:>10}")
    print(f"operators: {', '.join(footprint['ops'])}")
    print()
    print(f"parity on {Path(test).name}: {len(inputs)} images ({seconds:.1f} s)")
    print(
        f"{'TFLM vs':<48}{'identical':>10}{'differ':>8}{'values':>8}{'max':>5}{'top-1':>7}  first "
        "differing op"
    )
    for entry in result["against"].values():
        where = (
            ", ".join(f"{k}: {v}" for k, v in entry.get("first_differing_operator", {}).items())
            or "-"
        )
        print(
            f"{entry['interpreter']:<48}{str(entry['identical']):>10}{entry['images_differing']:>8}"
            f"{entry['values_differing']:>8}{entry['max_abs_diff']:>5}"
            f"{entry['top1_disagreements']:>7}  {where}"
        )
    print("accuracy: " + ", ".join(f"{k} {v:.2%}" for k, v in result["accuracy"].items()))
    harness.save(
        "micro_parity",
        {
            "tflite_micro_version": footprint["tflite_micro_version"],
            "flash_bytes": footprint["flash_bytes"],
            "arena_bytes_min": footprint["arena_bytes_min"],
            "arena_bytes": footprint["arena_bytes"],
            "ops": list(footprint["ops"]),
            "test_set": Path(test).name,
            "images": len(inputs),
            "seconds": round(seconds, 1),
            "against": list(result["against"].values()),
            "accuracy": result["accuracy"],
        },
        args,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
