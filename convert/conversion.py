"""`edgesign convert`: a trained model -> int8 and float32 TFLite, the side-by-side report, the
bundle.

The output folder appears whole or not at all, and only replaces an empty folder or an earlier
`edgesign convert` output (`core/files.py`). Before it is published, the bundle is loaded and
self-tested with the device's own code. When int8 accuracy drops more than `max_drop` points
below float, the report is written to `<out>.failed/` instead (so users can see why), no bundle
is written, the previous `<out>` stays as it was, and GateError is raised.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgesign.convert.bundle_writer import (
    add_hand_references,
    check_written_bundle,
    hand_photos,
    selftest_choice,
    write_bundle,
)
from edgesign.convert.device_reading import check_device_reading
from edgesign.convert.errors import GateError
from edgesign.convert.evaluate import (
    FLOAT_FILE,
    INT8_FILE,
    check_finite,
    eval_sets,
    evaluate_models,
    public_scores,
)
from edgesign.convert.hand_int8_step import eval_hand_int8, run_hand_int8, shipped_models
from edgesign.convert.landmarks import fused_on, landmark_step
from edgesign.convert.quantize import calibration_sample, to_float_tflite, to_int8_tflite
from edgesign.convert.report import build_report, bundle_summary, terminal_table, write_report
from edgesign.core.errors import DataError, ModelError
from edgesign.core.files import check_output_dir, is_own_output, publish_dir, staging_dir
from edgesign.core.text import PATH_LIMIT, printable
from edgesign.core.views import view_set
from edgesign.device.hands.classifier import BUNDLE_FILE as CLASSIFIER_FILE
from edgesign.train import data_plan
from edgesign.train.trainer import (
    MODEL_FILE,
    load_keras_model,
    read_training,
    to_float,
    training_spec,
)

log = logging.getLogger(__name__)
COMMAND = "convert"


def failed_dir(out_dir) -> Path:
    """Where a conversion that failed the int8 gate puts its report: `<out>.failed`, beside it."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".failed")


def _check_hashes(recorded: Sequence[dict], loaded: Sequence[dict]) -> None:
    known = {s["path"]: s["sha256"] for s in recorded}
    for source in loaded:
        if source["path"] in known and known[source["path"]] != source["sha256"]:
            log.warning(
                "%s changed since training (sha256 differs); numbers below use the file as it is "
                "now",
                source["path"],
            )


def _micro(model_path: Path) -> dict | None:
    try:
        from edgesign.convert.micro.export import micro_footprint

        return micro_footprint(model_path)
    except ModelError as exc:
        log.info("no microcontroller footprint: %s", exc)
        return None


def read_motion(path) -> tuple:
    """(reader, still speed) from a motion file of benchmarks/bench_motion.py; DataError (one
    line) when it is not one."""
    from edgesign.core.files import read_json
    from edgesign.device.motion_classifier import motion_reader

    # read_json: a FIFO blocked for ever and /dev/zero never ended; one line each
    data = read_json(path, DataError, "a motion file (a JSON object)")
    try:
        reader = motion_reader(data)
        still = data["still_speed"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"--motion {path}: not a motion file ({exc})") from None
    # as the bundle's metadata takes it (motion_bundle.motion_entry): a number, not true/false
    if isinstance(still, bool) or not isinstance(still, (int, float)) or not 0 < still < 1e6:
        raise DataError(f"--motion {path}: its still speed must be a number above 0 (below 1e6)")
    return reader, float(still)


def check_motion_fits(path, reader, meta: dict) -> None:
    """DataError (one line) unless the motion letters of `reader` fit the trained model as the
    written bundle must: a model with landmarks, each letter once, starting from one of its
    classes (round 6: refused only after the whole conversion, when the bundle was loaded)."""
    if "landmarks" not in meta:
        raise DataError("--motion needs a model with landmarks (the hand tracker)")
    letters = [e.letter for e in reader.letters]
    for e in reader.letters:
        if letters.count(e.letter) > 1:
            raise DataError(f"--motion {path}: the motion letter {e.letter!r} appears twice")
        if e.start not in meta["classes"]:
            raise DataError(
                f"--motion {path}: {e.letter} starts from {e.start!r}, not one of the model's "
                f"classes ({','.join(meta['classes'])})"
            )


def add_motion_reader(folder, reader, still: float) -> None:
    """`reader` into the bundle at `folder` with a few reference tracks (made here, fixed) whose
    scores the self-test computes again."""
    from edgesign.device.motion_bundle import add_motion
    from edgesign.device.motion_classifier import MotionClassifier

    u = np.linspace(0.0, 1.0, 20)
    paths = [
        np.stack([0.4 * np.sin(np.pi * u), 1.2 * u], axis=1),  # down with a hook
        np.stack([-u, 0.8 * np.abs(np.sin(1.5 * np.pi * u))], axis=1),  # a zigzag
    ]
    if isinstance(reader, MotionClassifier):
        references = [np.repeat(p[:, None, :], 21, axis=1) for p in paths]
    else:
        references = paths
    add_motion(folder, reader, still, references=references)


def convert(
    train_dir,
    out_dir,
    *,
    test: Sequence[str] = (),
    evals: Sequence[str] = (),
    calibration_size: int = 500,
    max_drop: float = 0.5,
    selftest_count: int = 24,
    seed: int = 0,
    views: int | None = None,
    more_views_below: float | None = None,
    with_float: bool = False,
    fusion_weight: float | None = None,
    hand_int8: bool = False,
    motion=None,
    say: Callable[[str], None] = print,
) -> dict:
    """Convert the model in `train_dir`, evaluate all three variants and write everything to
    `out_dir`.

    `views` and `more_views_below` replace what training chose (`view_set`, `average_views`): the
    evaluation and the bundle use them. `with_float` also puts the float32 model in the bundle,
    for `edgesign compare` on the device."""
    from edgesign.train.plots import confusion_plot

    if selftest_count < 1:
        raise DataError(f"--selftest-images must be at least 1, not {selftest_count}")
    motion_reader = read_motion(motion) if motion is not None else None
    meta = read_training(train_dir)
    if motion_reader is not None:  # before the work, not when the bundle is written
        check_motion_fits(motion, motion_reader[0], meta)
    spec = training_spec(meta, train_dir)
    if views is not None:
        spec = replace(spec, views=view_set(views))
    if more_views_below is not None:
        spec = replace(spec, more_views_below=more_views_below)
    several_views = len(spec.view_boxes) > 1
    classes = meta["classes"]
    plan = data_plan.DataPlan.from_dict(meta["data"]["plan"])
    plan.classes, plan.fixed = classes, True
    if test:
        plan.test = [Path(t) for t in test]
    if not plan.test:
        raise DataError("no test set to evaluate on: training had none, so pass --test PATH")
    inputs = [train_dir, *plan.test, *evals, *(s.path for s in plan.train)]
    for target in (out_dir, failed_dir(out_dir)):
        check_output_dir(target, COMMAND, inputs)
    say("loading data ...")
    # the model already knows its classes
    train, _, test_set = data_plan.load(plan, spec, check_test=False, views=several_views)
    _check_hashes(
        meta["data"].get("train", []) + meta["data"].get("test", []),
        train.sources + test_set.sources,
    )
    model = load_keras_model(Path(train_dir) / MODEL_FILE)
    calib = calibration_sample(train.labels, calibration_size, seed)
    say(f"converting: int8 calibrated on {len(calib)} training images ...")
    int8_bytes = to_int8_tflite(model, to_float(train.images[calib], spec))
    float_bytes = to_float_tflite(model)
    gate_failed = None
    with staging_dir(out_dir, COMMAND) as tmp:
        (tmp / INT8_FILE).write_bytes(int8_bytes)
        (tmp / FLOAT_FILE).write_bytes(float_bytes)
        say(
            f"evaluating on {len(test_set)} test images: Keras float, TFLite float32, TFLite int8 "
            "..."
        )
        results = evaluate_models(model, tmp, test_set, spec)
        check_finite(results, Path(train_dir) / MODEL_FILE, "test")
        cnn_int8 = results["tflite_int8"]["probabilities"]
        report = build_report(meta, train_dir, test_set, results, classes, len(calib), max_drop)
        fusion = int8_hands = None
        device_checks = []  # (report entry, photo folders, convert's answers) for the device
        if "landmarks" in meta:
            say("landmark classifier: int8, evaluation on the test hands, fusion with the CNN ...")
            fusion = landmark_step(
                train_dir,
                meta,
                plan,
                classes,
                tmp,
                test_set,
                cnn_int8,
                calibration_size,
                seed,
                fusion_weight,
            )
            report["landmarks"], report["fusion"] = fusion["landmarks"], fusion["fusion"]
            if all(Path(p).is_dir() for p in plan.test):
                device_checks.append((report["fusion"], plan.test, fusion["answers"]))
            if hand_int8:
                int8_hands = run_hand_int8(
                    report,
                    plan,
                    test_set,
                    cnn_int8,
                    classes,
                    tmp,
                    fusion,
                    max_drop,
                    device_checks,
                    say,
                )
        report["views"] = {
            "count": len(spec.view_boxes),
            "boxes": [list(b) for b in spec.view_boxes],
            "more_views_below": spec.more_views_below,
        }
        micro = _micro(tmp / INT8_FILE)
        if micro is not None:
            report["micro"] = micro
        for name, path in eval_sets(evals):
            say(f"evaluating on {path} ...")
            data = data_plan.load_source(
                path, list(classes), spec, None, grow=False, views=several_views
            )
            extra = evaluate_models(model, tmp, data, spec, timing=False)
            check_finite(extra, Path(train_dir) / MODEL_FILE, str(path))
            png = f"confusion_{name.replace('/', '_')}_int8.png"
            confusion_plot(
                np.asarray(extra["tflite_int8"]["confusion"]),
                classes,
                tmp / png,
                f"{name}: TFLite int8",
            )
            report["extra_eval"][name] = {
                "path": str(path),
                "images": len(data),
                "confusion_png": png,
                **{k: public_scores(v) for k, v in extra.items()},
            }
            if fusion is not None and Path(path).is_dir():
                entry, answers = fused_on(
                    Path(path), data, extra["tflite_int8"]["probabilities"], classes, tmp, fusion
                )
                report["extra_eval"][name]["fusion"] = entry
                device_checks.append((entry, [Path(path)], answers))
                if int8_hands is not None:  # float and int8 hand models side by side here too
                    eval_hand_int8(
                        int8_hands,
                        report["extra_eval"][name],
                        path,
                        data,
                        extra["tflite_int8"]["probabilities"],
                        classes,
                        tmp,
                        fusion,
                        say,
                    )
        confusion_plot(
            np.asarray(results["keras_float"]["confusion"]),
            classes,
            tmp / "confusion_float.png",
            "Keras float",
        )
        confusion_plot(
            np.asarray(results["tflite_int8"]["confusion"]),
            classes,
            tmp / "confusion_int8.png",
            "TFLite int8",
        )
        if report["gate"]["passed"]:
            chosen = selftest_choice(test_set.labels, selftest_count, seed)
            write_bundle(
                tmp / "bundle",
                tmp / INT8_FILE,
                classes,
                spec,
                test_set.images[chosen],
                test_set.labels[chosen],
                bundle_summary(meta, report, train, test_set),
                float_model_path=tmp / FLOAT_FILE if with_float else None,
                fusion=fusion,
                classifier_path=tmp / CLASSIFIER_FILE,
                hand_int8=shipped_models(report),
            )
            if fusion is not None:
                frames = add_hand_references(tmp / "bundle", hand_photos(plan.test))
                say(f"bundle: {frames} test photos with every hand stage's output, for selftest")
            if motion_reader is not None:
                if fusion is None:
                    raise DataError("--motion needs a model with landmarks (the hand tracker)")
                add_motion_reader(tmp / "bundle", *motion_reader)
                say(f"bundle: J and Z from motion ({printable(motion, PATH_LIMIT)})")
            check_written_bundle(tmp / "bundle", Path(out_dir) / "bundle")
            check_device_reading(tmp / "bundle", device_checks, say)
        else:
            gate_failed = report["gate"]
        write_report(tmp, report)
        publish_dir(tmp, failed_dir(out_dir) if gate_failed else out_dir, COMMAND, inputs)
    if not gate_failed and is_own_output(failed_dir(out_dir), COMMAND):
        shutil.rmtree(failed_dir(out_dir), ignore_errors=True)  # a stale failure no longer applies
    say(terminal_table(report))
    if gate_failed:
        raise GateError(
            f"int8 accuracy is {gate_failed['drop']:.2f} points below float, more than "
            f"--max-drop {gate_failed['max_drop']}; report written to "
            f"{printable(failed_dir(out_dir), PATH_LIMIT)}/report.md, no bundle written, "
            f"{printable(out_dir, PATH_LIMIT)} left as it was"
        )
    if with_float:
        say(
            f"bundle/ also holds {FLOAT_FILE} for `edgesign compare`: +{len(float_bytes):,} bytes "
            f"({len(float_bytes) / len(int8_bytes):.1f}x the int8 model's {len(int8_bytes):,})"
        )
    say(
        f"wrote {printable(out_dir, PATH_LIMIT)}/: bundle/, report.json, report.md, "
        f"confusion_*.png, {INT8_FILE}, {FLOAT_FILE}"
    )
    return report
