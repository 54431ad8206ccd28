"""Train any registered model on any supported dataset: `python -m training.train`.

With no flags it runs the default job, LeNet-5 on scikit-learn's digits,
into a new folder under runs/. `--flagfile=<model_dir>/flags.txt --resume`
continues a run after its last completed epoch. Outputs in --model_dir:
flags.txt, versions.json, best.keras and last.keras (inference: main output
only), checkpoints/, logs/ (TensorBoard), training.csv, training.png, eval.json.
"""

import datetime
import math
import os
import re
import sys

import keras
import tensorflow as tf
from absl import app, flags, logging

import zoo
from training import checkpoint, distribute, loop, outputs, precision, transfer
from training import data as data_lib
from training import flags as harness_flags

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(harness_flags)  # --help lists them


def default_model_dir(model, dataset):
    """runs/<model>-<dataset>-<UTC time>, made unique."""
    if dataset.startswith("folder:"):
        dataset = os.path.basename(dataset[len("folder:"):].rstrip("/"))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", re.sub(r"[^\w.-]+", "_", f"{model}-{dataset}-{stamp}"))
    path, n = base, 1
    while os.path.exists(path):
        path, n = f"{base}-{n}", n + 1
    return path


def build_model(name, image_shape, num_classes, model_args=None):
    """The model with its side branches on when it has them (trained with loss_weights)."""
    entry = zoo.registry._entry(name)
    kwargs = {**(model_args or {}), "input_shape": image_shape, "num_classes": num_classes}
    if entry.loss_weights and "aux_logits" in entry.family_args():
        kwargs["aux_logits"] = True
    return zoo.build(name, **kwargs)


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
    """Per-image and per-batch augmenters for --augment (training/augment.py)."""
    if not names:
        return None, None
    from training import augment

    if task == "segmentation":
        moving = [n for n in names if n not in ("color", "pca")]
        if moving:
            raise app.UsageError(f"--augment={','.join(moving)} would move the image but not its "
                                 "mask; segmentation accepts color and pca.")
    eigen = augment.pca_eigen(data_lib.sample_images(train_split)) if "pca" in names else None
    # The pipeline augments pixels in [0, 1]; batches() maps them to the model's range after.
    return (augment.build_augmenter(names, image_shape=image_shape, seed=seed, pca_eigen=eigen,
                                    value_range=(0, 1)),
            augment.build_batch_augmenter(names, num_classes=num_classes, seed=seed))


def _warn_changed_flags(path, flag_list):
    if not os.path.exists(path):
        return
    with open(path) as f:
        before = set(f.read().split("\n"))
    now = {f.serialize() for f in flag_list if f.value is not None}
    changed = sorted((now - before) - {"--resume"})
    if changed:
        logging.warning("Resuming with flags that differ from the run's flags.txt: %s", changed)


def train(callbacks=()):
    """Runs the job FLAGS describe; returns {"model_dir", "eval", "model"}.

    `callbacks` are extra keras callbacks for the training loop.
    """
    strategy = distribute.make_strategy(FLAGS.strategy)
    multi_worker = distribute.is_multi_worker(strategy)
    chief, worker = distribute.worker_role(strategy)
    FLAGS.model_dir = FLAGS.model_dir or default_model_dir(FLAGS.model, FLAGS.dataset)
    run_dir = FLAGS.model_dir if chief else os.path.join(FLAGS.model_dir, f"worker-{worker}")
    state = checkpoint.read_state(run_dir)
    if state and not FLAGS.resume:
        raise app.UsageError(f"{run_dir} already holds a run (epoch {state['epoch']} done): pass "
                             "--resume to continue it, or another --model_dir.")
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()

    entry = zoo.registry._entry(FLAGS.model)
    model_args = harness_flags.parse_model_args(FLAGS.model_args)
    FLAGS.image_size = size = FLAGS.image_size or entry.input_shape[0]
    image_shape = (size, size, entry.input_shape[-1])
    data = data_lib.load(FLAGS.dataset, image_shape=image_shape, task=entry.task,
                         data_dir=FLAGS.data_dir, classes=FLAGS.classes)
    FLAGS.mixed_precision = precision.choose(
        FLAGS.mixed_precision,
        lambda: build_model(FLAGS.model, image_shape, data.num_classes, model_args),
        image_shape, FLAGS.batch_size, reproducible=FLAGS.deterministic or multi_worker)
    keras.mixed_precision.set_global_policy(FLAGS.mixed_precision)
    keras.utils.set_random_seed(FLAGS.seed)

    os.makedirs(run_dir, exist_ok=True)
    flagfile = os.path.join(run_dir, "flags.txt")
    if state:
        _warn_changed_flags(flagfile, harness_flags.run_flags())
    outputs.write_flagfile(flagfile, harness_flags.run_flags())

    with strategy.scope():
        model = build_model(FLAGS.model, image_shape, data.num_classes, model_args)
        if strategy.num_replicas_in_sync > 1:
            distribute.synchronize_batch_norm(model)
    head = transfer.head_layers(model, transfer.backbone_names(FLAGS.model, image_shape,
                                                               model_args))
    if FLAGS.pretrained and not state:  # a resumed run restores its own weights
        transfer.load_pretrained(model, FLAGS.pretrained, name=FLAGS.model, head=head,
                                 model_args=model_args)
    outputs.write_versions(os.path.join(run_dir, "versions.json"), seed=FLAGS.seed,
                           policy=FLAGS.mixed_precision, strategy=FLAGS.strategy,
                           replicas=strategy.num_replicas_in_sync, params=model.count_params(),
                           argv=sys.argv)

    train_ds, val_ds, test_ds, steps = _datasets(data, entry.task, image_shape)
    trainer = loop.Trainer(model, strategy=strategy, task=entry.task, num_classes=data.num_classes,
                           loss_weights=entry.loss_weights if len(model.outputs) > 1 else None,
                           label_smoothing=FLAGS.label_smoothing)
    run_state = checkpoint.RunState(run_dir, loop.monitor(entry.task), state)
    csv_path = os.path.join(run_dir, "training.csv")
    all_callbacks = [*callbacks, keras.callbacks.CSVLogger(csv_path, append=True),
                     outputs.tensorboard_callback(os.path.join(run_dir, "logs")), run_state]
    try:
        _fit_phases(trainer, train_ds, val_ds, steps=steps, head=head, run_dir=run_dir,
                    state=state, callbacks=all_callbacks)
    except loop.NonFiniteLoss as error:
        last = checkpoint.read_state(run_dir)
        kept = (f"the last good checkpoint (epoch {last['epoch']}) and last.keras are kept in "
                f"{run_dir}" if last else "no epoch had completed")
        error.args = (f"Training stopped: {error}; {kept}.",)
        raise
    finally:
        if os.path.exists(csv_path):
            outputs.plot_history(csv_path, os.path.join(run_dir, "training.png"))

    report = {**_evaluate_best(trainer, test_ds, run_dir), "examples": data_lib.count(
        data.cached["test"]), "best_epoch": run_state.best_epoch, "monitor": run_state.monitor,
        "model": FLAGS.model, "dataset": FLAGS.dataset}
    checkpoint.write_json(os.path.join(run_dir, "eval.json"), report)
    exported = _export(run_dir) if chief else []
    return {"model_dir": run_dir, "eval": report, "model": model, "export": exported}


def _export(run_dir):
    """Exports best.keras as --export asks, checked against Keras on the test split.

    One export_model call per TFLite quantization; the SavedModel comes with the first.
    """
    import export

    saved_model, quantizations = harness_flags.parse_export(FLAGS.export)
    jobs = [(["tflite"], quantize) for quantize in quantizations]
    if saved_model:
        if jobs:
            jobs[0][0].insert(0, "saved_model")
        else:
            jobs = [(["saved_model"], "none")]
    reports = []
    for job_formats, quantize in jobs:
        report = export.export_model(os.path.join(run_dir, "best.keras"),
                                     os.path.join(run_dir, "export"), formats=job_formats,
                                     quantize=quantize, representative_data=FLAGS.dataset,
                                     name=FLAGS.model)
        logging.info("Exported %s", ", ".join(a["path"] for a in report["artifacts"]))
        reports.append(report)
    return reports


def _datasets(data, task, image_shape):
    """Batched train (shuffled, augmented, repeating), validation and test datasets,
    and the train steps per epoch."""
    augmenter, batch_augmenter = _augmenters(FLAGS.augment, task, image_shape, data.num_classes,
                                             FLAGS.seed, data.cached["train"])
    batch = dict(batch_size=FLAGS.batch_size, num_classes=data.num_classes,
                 input_range=zoo.registry._entry(FLAGS.model).input_range)
    # Repeating, so every batch is full and every worker runs the same steps.
    train_ds = data_lib.batches(data.cached["train"], training=True, seed=FLAGS.seed,
                                augmenter=augmenter, batch_augmenter=batch_augmenter,
                                deterministic=FLAGS.deterministic, **batch)
    steps = math.ceil(data_lib.count(data.cached["train"]) / FLAGS.batch_size)
    return (train_ds, data_lib.batches(data.cached["validation"], **batch),
            data_lib.batches(data.cached["test"], **batch), steps)


def _fit_phases(trainer, train_ds, val_ds, *, steps, head, run_dir, state, callbacks):
    """Trains --epochs (backbone frozen with --freeze_backbone), then --fine_tune_epochs.

    Each phase has its own optimizer; a resumed run restores the optimizer's
    state only when it stopped inside the phase it resumes.
    """
    model, strategy = trainer.model, trainer.strategy
    phases = ((FLAGS.epochs, FLAGS.learning_rate, not FLAGS.freeze_backbone),
              (FLAGS.fine_tune_epochs, FLAGS.fine_tune_learning_rate, True))
    done, start = (state["epoch"] if state else 0), 0
    for epochs, learning_rate, train_backbone in phases:
        end = start + epochs
        if done < end:
            if FLAGS.pretrained:
                transfer.set_trainable(model, head, backbone=train_backbone)
            with strategy.scope():
                optimizer = make_optimizer(
                    FLAGS.optimizer, learning_rate, schedule=FLAGS.schedule,
                    total_steps=steps * epochs, weight_decay=FLAGS.weight_decay,
                    policy=FLAGS.mixed_precision)
                optimizer.build(model.trainable_variables)
            if state and done > 0:
                model.optimizer = optimizer if done > start else None
                checkpoint.restore(model, run_dir, state)
                state = None
            trainer.fit(train_ds, val_ds, optimizer=optimizer, epochs=end,
                        initial_epoch=max(done, start), steps=steps, callbacks=callbacks)
            done = end
        start = end


def _evaluate_best(trainer, test_ds, run_dir):
    """Loss and metrics of best.keras's weights on the test split."""
    inference = checkpoint.inference_model(trainer.model)
    best_path = os.path.join(run_dir, "best.keras")
    if os.path.exists(best_path):
        inference.set_weights(keras.saving.load_model(best_path).get_weights())
    else:  # no epoch trained
        checkpoint.atomic_save(inference, best_path)
        checkpoint.atomic_save(inference, os.path.join(run_dir, "last.keras"))
    results = trainer.evaluate(test_ds)
    logging.info("Test: %s", ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
    return {"split": "test", "weights": "best.keras", **results}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        train()
    except (loop.NonFiniteLoss, distribute.StrategyError) as error:
        logging.error("%s", error)
        sys.exit(f"zoo-train: {error}")


def run():
    """Console script entry point (zoo-train)."""
    app.run(main)


if __name__ == "__main__":
    run()
