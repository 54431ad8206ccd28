"""Mixed precision on CPU: the harness's `--mixed_precision=auto` vs plain
keras.applications `fit` in float32, same model, input and data.

auto times a few steps under each policy the CPU supports and keeps the
faster; the harness then trains with its own loop. Ratio = keras.applications
time / harness time, with its bootstrap interval (targets: >= 1.4 on
resnet50, >= 1.0 on every model). The rule "auto never picks a slower
policy" is checked on the interval too: when auto picks a mixed policy, the
harness also trains in float32, interleaved, and `vs_float32` = float32 time /
auto time must not be all below 1.0. A last row checks that auto leaves the
default digits run's test accuracy unchanged (within 0.5 points of float32).
"""

import json
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

import zoo
from bench.throughput import PAIRS
from bench.timing import interleaved, ratio_columns
from training import loop, precision

NUM_CLASSES = 10
TARGETS = {"resnet50": 1.4}


def _harness_epoch(name, shape, dataset, batch_size, policy="auto"):
    """The harness's policy (auto: its choice) and training step; returns
    (policy, one-epoch callable)."""
    build = lambda: zoo.build(name, input_shape=shape, num_classes=NUM_CLASSES)  # noqa: E731
    policy = precision.choose(policy, build, shape, batch_size)
    keras.mixed_precision.set_global_policy(policy)
    model = build()
    keras.mixed_precision.set_global_policy("float32")
    trainer = loop.Trainer(model, strategy=tf.distribute.get_strategy(), task="classification",
                           num_classes=NUM_CLASSES)
    optimizer = keras.optimizers.SGD(0.01)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    step = trainer.train_step(optimizer)

    def epoch():
        for x, y in dataset:
            step(x, y)
    return policy, epoch


def _digits_accuracy(policy, epochs):
    with tempfile.TemporaryDirectory() as run_dir:
        subprocess.run([sys.executable, "-m", "training.train", f"--mixed_precision={policy}",
                        f"--epochs={epochs}", "--export=", f"--model_dir={run_dir}/run"],
                       capture_output=True, text=True, check=True)
        with open(f"{run_dir}/run/eval.json") as f:
            return json.load(f)["accuracy"]


def run(quick):
    size, batch_size, steps, runs = (32, 8, 2, 2) if quick else (96, 32, 8, 11)
    shape = (size, size, 3)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (batch_size * steps, *shape)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, len(images))
    dataset = tf.data.Dataset.from_tensor_slices(
        (images, keras.ops.one_hot(labels, NUM_CLASSES))).batch(batch_size).cache()
    rows = []
    for name, anchor in PAIRS[:1] if quick else PAIRS:
        policy, harness_epoch = _harness_epoch(name, shape, dataset, batch_size)
        reference = anchor(weights=None, input_shape=shape, classes=NUM_CLASSES,
                           classifier_activation=None)
        reference.compile(optimizer=keras.optimizers.SGD(0.01),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        candidates = {"harness": harness_epoch, "anchor": lambda: reference.fit(
            images, labels, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)}
        if policy != "float32":
            candidates["harness_float32"] = _harness_epoch(name, shape, dataset, batch_size,
                                                           "float32")[1]
        times = interleaved(runs, **candidates)
        rule = ({"vs_float32": 1.0, "vs_float32_verdict": "met (auto kept float32)"}
                if policy == "float32" else
                ratio_columns(times["harness_float32"], times["harness"], 1.0, name="vs_float32"))
        rows.append({"model": name, "input": size, "batch": batch_size, "policy": policy,
                     "harness_images_per_s": len(images) / times["harness"]["median"],
                     "keras_float32_images_per_s": len(images) / times["anchor"]["median"],
                     **ratio_columns(times["anchor"], times["harness"], TARGETS.get(name, 1.0)),
                     **rule, "seconds": times})
        keras.backend.clear_session()
    epochs = 3 if quick else 20
    auto, float32 = _digits_accuracy("auto", epochs), _digits_accuracy("float32", epochs)
    rows.append({"model": "lenet5 on digits", "policy": "auto vs float32",
                 "auto_accuracy": auto, "float32_accuracy": float32,
                 "accuracy_ratio": auto / float32, "points_apart": 100 * abs(auto - float32)})
    return rows
