"""Fine-tuning: adapt a trained model to new photos, keeping its classes and preprocessing."""

from __future__ import annotations

from pathlib import Path

from edgesign.core.errors import DataError
from edgesign.core.text import printable
from edgesign.train import data_plan
from edgesign.train.trainer import (
    MODEL_FILE,
    TrainConfig,
    load_keras_model,
    read_training,
    train,
    training_spec,
)


def freeze_first(model, count: int) -> list:
    """Make the first `count` layers that have weights untrainable; returns their names."""
    frozen = []
    for layer in model.layers:
        if len(frozen) >= count:
            break
        if layer.weights:
            layer.trainable = False
            frozen.append(layer.name)
    if len(frozen) < count:
        raise DataError(f"--freeze {count}: the model has only {len(frozen)} layers with weights")
    return frozen


def finetune(
    base_dir,
    out_dir,
    plan: data_plan.DataPlan,
    config: TrainConfig,
    *,
    freeze: int = 0,
    verbose: int = 1,
) -> dict:
    """Train the model in `base_dir` further on `plan`'s data and save it like `edgesign train`
    does.

    `config`: the fitting settings, for the base model's preset (`options.fit_config`)."""
    from edgesign.core.files import check_output_dir

    base = read_training(base_dir)
    spec = training_spec(base, base_dir)
    check_output_dir(out_dir, "finetune", [base_dir])
    if plan.classes is not None and list(plan.classes) != list(base["classes"]):
        # the labels of a CSV or IDX file index these classes: under the model's names, digits
        # would be trained as letters
        raise DataError(
            f"the data's classes ({printable(', '.join(plan.classes))}, from --classes or the "
            f"file type) are not those of the model in {base_dir} "
            f"({printable(', '.join(base['classes']))}); fine-tuning keeps the model's classes"
        )
    plan.classes, plan.fixed = list(base["classes"]), True
    if not plan.test:  # keep measuring on what the base model was tested on
        plan.test = data_plan.DataPlan.from_dict(base["data"]["plan"]).test
    data, weights, test = data_plan.load(plan, spec, check_test=False)
    if data.classes != base["classes"]:
        raise DataError(
            "the new data has classes the model lacks: "
            f"{', '.join(data.classes[len(base['classes']) :])}"
        )
    model = load_keras_model(Path(base_dir) / MODEL_FILE)
    frozen = freeze_first(model, freeze)
    info = {
        "plan": plan.to_dict(),
        "train": data.sources,
        "test": test.sources if test is not None else [],
        "finetuned_from": {
            "dir": str(base_dir),
            "preset": base["preset"],
            "frozen_layers": frozen,
            "base_test_accuracy": base.get("test_accuracy"),
        },
    }
    return train(
        data,
        config,
        spec,
        out_dir,
        test=test,
        sample_weight=weights,
        data_info=info,
        verbose=verbose,
        initial_model=model,
        inputs=[base_dir],
        command="finetune",
    )
