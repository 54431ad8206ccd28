"""Train any registered model on any supported dataset: `zoo-train` or
`python -m training.train`.

With no flags it runs the default job, LeNet-5 on scikit-learn's digits,
into a new folder under runs/. `--flagfile=<model_dir>/flags.txt --resume`
continues a run after its last completed epoch. Outputs in --model_dir:
flags.txt, versions.json, best.keras and last.keras (inference: main output
only), checkpoints/, logs/ (TensorBoard), training.csv, training.png, eval.json,
and with --explain the pictures of zoo-explain in explain/.

The flags are parsed once into a `RunConfig`; `train(config)` is the library
entry point and raises `HarnessError` for every expected failure.
"""

import dataclasses
import datetime
import math
import os
import re
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

import zoo
from training import checkpoint, distribute, loop, outputs, precision, tasks, transfer
from training import data as data_lib
from training import flags as harness_flags
from training.config import RunConfig
from training.errors import HarnessError
from zoo import cli

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(harness_flags)  # --help lists them


def default_model_dir(model, dataset):
    """runs/<model>-<dataset>-<UTC time>, made unique."""
    for prefix in ("folder:", "npz:", "coco:"):
        if dataset.startswith(prefix):
            dataset = os.path.splitext(os.path.basename(dataset[len(prefix):].rstrip("/")))[0]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", re.sub(r"[^\w.-]+", "_", f"{model}-{dataset}-{stamp}"))
    path, n = base, 1
    while os.path.exists(path):
        path, n = f"{base}-{n}", n + 1
    return path


def build_model(name, image_shape, num_classes, model_args=None, *, inputs=1):
    """The model with its side branches on when it has them (trained with loss_weights);
    `num_classes` None keeps the model's own output width (an embedding's). `inputs`:
    the number of images the task's batches feed it (its `model_inputs`)."""
    entry = zoo.get_entry(name)
    kwargs = {**(model_args or {}), "input_shape": image_shape}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    side_branches = bool(entry.loss_weights and "aux_logits" in entry.family_args())
    if side_branches:
        kwargs["aux_logits"] = True
    try:
        model = zoo.build(name, **kwargs)
    except ValueError as error:  # the model's own check of its arguments and input: one line
        trained_as = " (the harness trains it with its side branches, aux_logits=True)" if side_branches else ""
        raise HarnessError(f"--model={name}{trained_as}: {error}") from None
    if len(model.inputs) != inputs:  # batches would not fit: say so, not Keras's input-spec traceback
        raise HarnessError(
            f"--model={name} takes {len(model.inputs)} inputs "
            f"({', '.join(t.name for t in model.inputs)}); its task, {entry.task}, feeds "
            f"{inputs} image{'s' if inputs > 1 else ''} per example. The harness trains a model "
            "of two inputs only as a pair-similarity model (--model=siamese).")
    return model


RANK_NAMES = {1: "1D signals", 2: "2D images", 3: "3D volumes or clips"}


def model_input_shape(config, entry):
    """The model's input for `config`'s dataset: images at --image_size (default: the
    model's) with the model's channels; signals and volumes at their own shape, which
    the dataset fixes (data.example_shape): --image_size does not resize them."""
    shape = data_lib.example_shape(config.dataset)
    if shape is None or len(shape) == 3:
        size = config.image_size or entry.input_shape[0]
        return (size, size, entry.input_shape[-1])
    shape, dims = tuple(int(d) for d in shape), len(shape) - 1
    holds = f"--dataset={config.dataset} holds {RANK_NAMES[dims]} of shape {shape}"
    if dims not in entry.spatial_dims:
        fits = [n for n in zoo.list_models()
                if dims in zoo.get_entry(n).spatial_dims and zoo.get_entry(n).task == entry.task]
        raise HarnessError(f"{holds}; --model={config.model} takes "
                           f"{' and '.join(RANK_NAMES[d] for d in entry.spatial_dims)} only. "
                           f"Models that take {RANK_NAMES[dims]}: {', '.join(fits) or 'none'}.")
    if config.image_size:
        raise HarnessError(f"{holds}: --image_size={config.image_size} sets the height and width "
                           "of 2D images and does not apply; signals and volumes train at their "
                           "own shape (resample them before saving to change it).")
    if min(shape[:-1]) < entry.min_size:
        raise HarnessError(f"{holds}; {config.model} needs at least {entry.min_size} along "
                           "every spatial axis.")
    if config.augment:
        from training import augment

        try:
            augment.check_spatial_dims(config.augment, dims)
        except ValueError as error:
            raise HarnessError(f"{holds}: {error}") from None
    return shape


def _check_tflite_export(config, image_shape, num_classes, model_args, value_range):
    """Converts the untrained model to TFLite before a 3D run trains: LiteRT lacks
    3D builtins the zoo's 3D models use (MaxPool3D, grouped CONV_3D), and export's
    refusal is better heard before the training than after it."""
    import export

    model = zoo.inference_model(build_model(config.model, image_shape, num_classes, model_args))
    held_out = np.random.default_rng(0).uniform(*value_range, (2, *image_shape)).astype("float32")
    with tempfile.TemporaryDirectory() as folder:
        try:
            export.export_model(model, os.path.join(folder, "check"), formats=("tflite",),
                                held_out=held_out, value_range=value_range, latency_runs=0,
                                name=config.model)
        except export.ExportError as error:
            error.args = (f"--export={','.join(config.export)}: {error} (checked before "
                          "training; --export=saved_model trains and exports without TFLite)",)
            raise


def make_optimizer(kind, learning_rate, *, schedule, total_steps, weight_decay, policy):
    """A Keras optimizer with its learning-rate schedule over `total_steps`."""
    total_steps = max(int(total_steps), 1)
    if schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    elif schedule == "step":
        learning_rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            [total_steps // 2, max(3 * total_steps // 4, total_steps // 2 + 1)],
            [learning_rate, learning_rate / 10, learning_rate / 100])
    decay = weight_decay or None
    make = {
        "sgd": lambda: keras.optimizers.SGD(learning_rate, weight_decay=decay),
        "momentum": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, weight_decay=decay),
        "nesterov": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True,
                                                 weight_decay=decay),
        "adam": lambda: keras.optimizers.Adam(learning_rate, weight_decay=decay),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, weight_decay=decay),
    }
    optimizer = make[kind]()
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _augmenters(names, task, image_shape, num_classes, seed, train_split):
    """Per-image and per-batch augmenters for --augment (training/augment.py);
    `task` (a name or a Task) may refuse some."""
    if not names:
        return None, None
    from training import augment

    task = tasks.get_task(task)
    refused = task.check_augment(names)
    if refused:
        raise HarnessError(refused)
    eigen = augment.pca_eigen(data_lib.sample_images(train_split)) if "pca" in names else None
    # The pipeline augments pixels in [0, 1]; batches() maps them to the model's range after.
    return (task.build_augmenter(names, image_shape=image_shape, seed=seed, pca_eigen=eigen,
                                 value_range=(0, 1)),
            augment.build_batch_augmenter(names, num_classes=num_classes, seed=seed))


def _output_classes(task, data):
    """The model's num_classes: the dataset's classes, or None when the task's output
    is not one per class (embeddings)."""
    return data.num_classes if task.class_outputs else None


def _warn_changed_flags(path, lines):
    if not os.path.exists(path):
        return
    with open(path) as f:
        before = set(f.read().split("\n"))
    changed = sorted(set(lines) - before)
    if changed:
        logging.warning("Resuming with flags that differ from the run's flags.txt: %s", changed)


def _run_dir(config, chief, worker):
    """The folder this process writes: the run's, or a worker's own below it."""
    return config.model_dir if chief else os.path.join(config.model_dir, f"worker-{worker}")


def _check_resume(config, run_dir, state):
    if state and not config.resume:
        raise HarnessError(f"{run_dir} already holds a run (epoch {state['epoch']} done): pass "
                           "--resume to continue it, or another --model_dir.")
    if config.resume and not state:
        raise HarnessError(f"--resume: {run_dir} holds no checkpoint to continue "
                           f"({os.path.join(run_dir, 'checkpoints', checkpoint.STATE)} is "
                           "missing); check --model_dir, or drop --resume to start a new run.")


def train(config: RunConfig | None = None, callbacks=()) -> dict:
    """Runs the job `config` (a RunConfig) describes; returns {"model_dir", "eval",
    "model", "export", "config", "seconds"}.

    `callbacks` are extra keras callbacks for the training loop. Expected
    failures raise HarnessError (or export.ExportError from the export step);
    a new run folder is removed again if the run fails before its first epoch.
    """
    start = time.perf_counter()
    config = (config or RunConfig()).with_absolute_paths()
    strategy = distribute.make_strategy(config.strategy)
    multi_worker = distribute.is_multi_worker(strategy)
    chief, worker = distribute.worker_role(strategy)
    # Everything that can fail cheaply comes before the precision probe and the run folder.
    entry = zoo.get_entry(config.model)
    task = tasks.get_task(entry.task)
    config = config.with_model_defaults(entry, task)
    if config.model_dir is None:
        config = dataclasses.replace(config, model_dir=os.path.abspath(
            default_model_dir(config.model, config.dataset)))
    run_dir = _run_dir(config, chief, worker)
    state = checkpoint.read_state(run_dir)
    _check_resume(config, run_dir, state)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    model_args = harness_flags.parse_model_args(config.model_args)
    image_shape = model_input_shape(config, entry)
    if len(image_shape) == 3:  # images: the run records the size it used
        config = dataclasses.replace(config, image_size=image_shape[0])
    task = task.for_run(config)  # its own settings bound (style: the style image, loss network)
    _check_explain(config, task, image_shape)
    data = data_lib.load(config.dataset, image_shape=image_shape, task=task,
                         data_dir=config.data_dir, classes=config.classes,
                         download=config.download)
    model_args = task.model_args(model_args, model=config.model, data=data,
                                 image_shape=image_shape)
    if len(image_shape) == 4 and harness_flags.parse_export(config.export)[1] and chief:
        _check_tflite_export(config, image_shape, data.num_classes, model_args, entry.input_range)
    donor = None
    if config.pretrained and not state:  # a resumed run restores its own weights
        donor = transfer.read_pretrained(config.pretrained, name=config.model,
                                         input_shape=image_shape, model_args=model_args)
    policy = precision.choose(
        config.mixed_precision,
        lambda: build_model(config.model, image_shape, _output_classes(task, data), model_args,
                            inputs=task.model_inputs),
        image_shape, config.batch_size, reproducible=config.deterministic or multi_worker)
    config = dataclasses.replace(config, mixed_precision=policy)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(config.seed)

    created = not os.path.isdir(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    try:
        result = _train_in(config, run_dir, state, data, donor, model_args, entry, task,
                           strategy, callbacks, image_shape)
    except BaseException:
        if created and checkpoint.read_state(run_dir) is None:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing worth keeping: no epoch done
        raise
    result["export"] = _export(config, run_dir, data, entry, task) if chief else []
    result["explain"] = _explain(run_dir, config, data, entry, task) if chief else None
    return {**result, "config": config, "seconds": time.perf_counter() - start}


def _train_in(config, run_dir, state, data, donor, model_args, entry, task, strategy, callbacks,
              image_shape):
    """Builds, trains and evaluates into `run_dir` (which exists), for inputs of `image_shape`."""
    flagfile = os.path.join(run_dir, "flags.txt")
    if state:
        _warn_changed_flags(flagfile, config.flagfile_lines())
    outputs.write_flagfile(flagfile, config.flagfile_lines())

    with strategy.scope():
        model = build_model(config.model, image_shape, _output_classes(task, data), model_args,
                            inputs=task.model_inputs)
        if strategy.num_replicas_in_sync > 1:
            distribute.synchronize_batch_norm(model)
    # Targets that depend on the built model (a detector's grid and anchors).
    task = task.for_model(model, class_names=data.class_names)
    head = transfer.head_layers(model, config.model)
    pretrained = None
    if donor is not None:
        pretrained = transfer.apply_pretrained(model, donor, head=head, source=config.pretrained)
    outputs.write_versions(os.path.join(run_dir, "versions.json"), seed=config.seed,
                           policy=config.mixed_precision, strategy=config.strategy,
                           replicas=strategy.num_replicas_in_sync, params=model.count_params(),
                           argv=sys.argv)

    train_ds, evaluation, bn_ds, steps = _datasets(config, data, entry, task, image_shape)
    trainer = loop.Trainer(model, strategy=strategy, task=task, num_classes=data.num_classes,
                           loss_weights=entry.loss_weights if len(model.outputs) > 1 else None,
                           label_smoothing=config.label_smoothing)
    run_state = checkpoint.RunState(run_dir, task.monitor, state,
                                     higher_is_better=task.monitor_higher_is_better)
    csv_path = os.path.join(run_dir, "training.csv")
    all_callbacks = [*callbacks, outputs.EpochCSV(csv_path, kept=state["epoch"] if state else 0),
                     outputs.tensorboard_callback(os.path.join(run_dir, "logs")), run_state]
    try:
        _fit_phases(config, trainer, train_ds, evaluation["validation"], bn_ds, steps=steps, head=head,
                    run_dir=run_dir, state=state, callbacks=all_callbacks)
    except loop.NonFiniteLoss as error:
        last = checkpoint.read_state(run_dir)
        kept = (f"the last good checkpoint (epoch {last['epoch']}) and last.keras are kept in "
                f"{run_dir}" if last else "no epoch had completed")
        error.args = (f"Training stopped: {error}; {kept}.",)
        raise
    finally:
        if os.path.exists(csv_path):
            outputs.plot_history(csv_path, os.path.join(run_dir, "training.png"))

    report = {**_evaluate_best(trainer, evaluation, run_dir), "examples": data.sizes["test"],
              "best_epoch": run_state.best_epoch, "monitor": run_state.monitor,
              "model": config.model, "dataset": config.dataset}
    checkpoint.write_json(os.path.join(run_dir, "eval.json"), report)
    return {"model_dir": run_dir, "eval": report, "model": model, "pretrained": pretrained,
            "resumed_after": state["epoch"] if state else None}


# Images export calibrates int8 on and checks parity on, per split.
EXPORT_IMAGES = 2048


def _export(config, run_dir, data, entry, task):
    """Exports best.keras as --export asks, checked against Keras on the test split.

    Export gets the run's own images and class names (after --classes, at the
    model's input range), never a dataset name to load again. One export_model
    call per TFLite quantization; the SavedModel comes with the first.
    """
    if not config.export:
        return []
    if task.export_refusal:
        logging.warning("--export=%s skipped: %s", ",".join(config.export), task.export_refusal)
        return []
    import export

    low, high = entry.input_range
    images = {split: data_lib.sample_images(data.cached[split], limit=EXPORT_IMAGES) * (high - low) + low
              for split in ("train", "test")}

    saved_model, quantizations = harness_flags.parse_export(config.export)
    jobs = [(["tflite"], quantize) for quantize in quantizations]
    if saved_model:
        if jobs:
            jobs[0][0].insert(0, "saved_model")
        else:
            jobs = [(["saved_model"], "none")]
    # The task's inference form of best.keras (a detector: NMS inside the graph).
    model, kinds = task.export_model(export.load_model(os.path.join(run_dir, "best.keras")))
    reports = []
    for job_formats, quantize in jobs:
        report = export.export_model(model,
                                     os.path.join(run_dir, "export"), formats=job_formats,
                                     quantize=quantize, representative_data=images["train"],
                                     held_out=images["test"],
                                     labels=data.class_names if task.class_outputs else None,
                                     value_range=entry.input_range, name=config.model,
                                     output_kinds=kinds)
        logging.info("Exported %s", ", ".join(a["path"] for a in report["artifacts"]))
        reports.append(report)
    return reports


def _check_explain(config, task, image_shape):
    """--explain's parts, checked against the task before anything trains."""
    from zoo.explain import parts

    if not config.explain:
        return
    if len(image_shape) != 3:
        raise HarnessError(f"--explain draws 2D image models; this run's inputs have shape "
                           f"{tuple(image_shape)}: drop --explain.")
    try:
        parts.check_parts(config.explain, task.output_kind)
    except ValueError as error:
        raise HarnessError(f"--explain: {error}") from None


def _explain(run_dir, config, data, entry, task):
    """zoo-explain's pictures of best.keras on the test split, into <run_dir>/explain;
    explain.json's content, or None without --explain."""
    if not config.explain:
        return None
    from zoo.explain import parts

    images, labels = data_lib.split_arrays(data.cached["test"], value_range=entry.input_range,
                                           limit=parts.MAX_COLLECTION)
    model = keras.saving.load_model(os.path.join(run_dir, "best.keras"), compile=False,
                                    safe_mode=True)
    try:
        return parts.explain_model(model, images, os.path.join(run_dir, "explain"),
                                   what=config.explain, labels=labels, kind=task.output_kind,
                                   value_range=entry.input_range, class_names=data.class_names)
    except ValueError as error:
        raise HarnessError(f"--explain: {error}") from error


def _datasets(config, data, entry, task, image_shape):
    """Batched train (the task's batches, augmented, repeating), {split: batches} of
    the other splits (validation, test and any the task's source adds), precise
    BatchNorm's batches, and the train steps per epoch."""
    augmenter, batch_augmenter = _augmenters(config.augment, task, image_shape,
                                             data.num_classes, config.seed, data.cached["train"])
    batch = dict(num_classes=data.num_classes, input_range=entry.input_range)
    # Repeating, so every batch is full and every worker runs the same steps.
    train_ds = task.train_batches(data.cached["train"], batch_size=config.batch_size,
                                  seed=config.seed, augmenter=augmenter,
                                  batch_augmenter=batch_augmenter,
                                  deterministic=config.deterministic, **batch)
    steps = math.ceil(data.sizes["train"] / config.batch_size)
    # Precise BatchNorm's batches: the training images as evaluation sees them (no
    # augmentation; mixup and cutmix would shrink the variance), shuffled, repeating.
    bn_ds = task.train_batches(data.cached["train"], batch_size=config.batch_size,
                               seed=config.seed + 1, **batch)
    evaluation = {split: task.eval_batches(examples, batch_size=config.batch_size, **batch)
                  for split, examples in data.cached.items() if split != "train"}
    return train_ds, evaluation, bn_ds, steps


def _fit_phases(config, trainer, train_ds, val_ds, bn_ds, *, steps, head, run_dir, state,
                callbacks):
    """Trains --epochs (backbone frozen with --freeze_backbone), then --fine_tune_epochs.

    Each phase has its own optimizer; a resumed run restores the optimizer's
    state only when it stopped inside the phase it resumes.
    """
    model, strategy = trainer.model, trainer.strategy
    phases = ((config.epochs, config.learning_rate, not config.freeze_backbone),
              (config.fine_tune_epochs, config.fine_tune_learning_rate, True))
    done, start = (state["epoch"] if state else 0), 0
    for epochs, learning_rate, train_backbone in phases:
        end = start + epochs
        if done < end:
            if config.pretrained:
                transfer.set_trainable(model, head, backbone=train_backbone)
            with strategy.scope():
                optimizer = make_optimizer(
                    config.optimizer, learning_rate, schedule=config.schedule,
                    total_steps=steps * epochs, weight_decay=config.weight_decay,
                    policy=config.mixed_precision)
                optimizer.build(model.trainable_variables)
            if state and done > 0:
                model.optimizer = optimizer if done > start else None
                checkpoint.restore(model, run_dir, state)
                state = None
            trainer.fit(train_ds, val_ds, optimizer=optimizer, epochs=end,
                        initial_epoch=max(done, start), steps=steps, callbacks=callbacks,
                        bn_batches=bn_ds, bn_steps=min(config.precise_bn_batches, steps))
            done = end
        start = end


def _evaluate_best(trainer, evaluation, run_dir):
    """The task's report on best.keras's weights (by default the test split's loss and metrics)."""
    inference = zoo.inference_model(trainer.model)
    best_path = os.path.join(run_dir, "best.keras")
    if os.path.exists(best_path):
        inference.set_weights(keras.saving.load_model(best_path).get_weights())
    else:  # no epoch trained
        checkpoint.atomic_save(inference, best_path)
        checkpoint.atomic_save(inference, os.path.join(run_dir, "last.keras"))
    report = trainer.task.evaluate_run(trainer, evaluation, run_dir)
    logging.info("Test: %s", ", ".join(f"{k} {v:.4f}" for k, v in report.items()
                                       if isinstance(v, float)))
    return {"split": "test", "weights": "best.keras", **report}


def summary(result):
    """The few lines a run ends with: where its outputs are and what it measured."""
    config, report = result["config"], result["eval"]
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in report.items()
                        if isinstance(v, float) and k != "loss")
    lines = [f"zoo-train: {config.model} on {config.dataset} done in {result['seconds']:.0f} s "
             f"({config.mixed_precision})",
             f"  run folder: {result['model_dir']}"
             + (f" (resumed after epoch {result['resumed_after']})" if result["resumed_after"]
                else ""),
             f"  test ({report['examples']} images, best epoch {report['best_epoch']}): "
             f"{metrics}, loss {report['loss']:.4f}"]
    if result.get("pretrained"):
        p = result["pretrained"]
        lines.append(f"  pretrained: {p['loaded']} of {p['backbone_tensors']} backbone tensors "
                     f"loaded from {config.pretrained}")
    for export_report in result["export"]:
        for artifact in export_report["artifacts"]:
            lines.append(f"  exported {artifact['format']}: {artifact['path']} "
                         f"({artifact['bytes'] / 1e6:.2f} MB)")
    if result.get("explain"):
        folder = os.path.dirname(next(iter(result["explain"]["parts"].values()))["picture"])
        lines.append(f"  explained: {', '.join(result['explain']['parts'])} in {folder}")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet()  # the summary below says what matters
    import export

    try:
        result = train(RunConfig.from_flags(FLAGS))
    except (HarnessError, export.ExportError) as error:
        cli.fail("zoo-train", error)
    print(summary(result))


def run():
    """Console script entry point (zoo-train)."""
    cli.run(main, harness_flags.__name__)


if __name__ == "__main__":
    run()
