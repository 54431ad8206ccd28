"""YOLO through the harness on the shapes scenes, against keras-cv's YOLOV8Detector
trained on the same data for the same wall-clock time: `python -m bench.detection [--quick]`.

Trains `zoo-train --model=yolo --dataset=shapes` at 128 px (MobileNetV2
backbone, anchors by k-means on the training boxes, flip moving the boxes)
and reports the test split's AP, AP50 and AP75 (zoo.boxes.evaluate,
pycocotools' numbers), and the exported detector's (NMS inside) TFLite latency
at batch 1 against the Keras model's. The issue's working bar is AP50 >= 0.8.

Then, in the same process, keras-cv 0.9's `YOLOV8Detector` (anchor-free, CIoU
and BCE losses, task-aligned assignment; a named dependency of the project)
is trained from scratch on the same training split at the same size, batch
size and flip, for as many seconds as zoo's whole run took (data, training,
per-epoch validation, test evaluation and export: a budget that favours
keras-cv, which spends it all on training), and its last weights are scored
on the same test split by the same `zoo.boxes.evaluate`, with the same
evaluation thresholds (score > 0.001, IoU 0.45, 100 detections; keras-cv's NMS
is class-agnostic, zoo's per class). Its network is the `yolo_v8_xs_backbone`
preset's configuration built by the preset-free constructor (no download),
random weights, fpn_depth 1, Adam with global_clipnorm 10 as keras-cv's
YOLOV8 guide. The figure is the ratio of test AP50s, zoo / keras-cv (goal >= 1.0).
Measured 2026-11-26 (bench/results_detection.json): zoo AP50 0.827 (859 s run),
keras-cv AP50 1.000, AP 0.994 in the same 859 s (107 epochs): ratio 0.83, below
the goal; YOLOv2's one stride-32 grid localises coarsely (AP75 0.31 vs 1.00).

Not in `python -m bench`: the runs train for minutes. Results go to
bench/results_detection.json; `--picture` copies the run's detections.png (the
README's picture).
"""

import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from bench.tables import format_table
from training.config import RunConfig
from training.train import train
from zoo import boxes as zb
from zoo.utils import versions, write_json

QUICK = flags.DEFINE_bool("quick", False, "Two epochs at 64 px: minutes less, not the numbers.")
OUTPUT = flags.DEFINE_string("output", os.path.join(os.path.dirname(__file__), "results_detection.json"),
                             "Where to write the results JSON.")
PICTURE = flags.DEFINE_string("picture", None, "Where to copy the run's detections.png.")

RECIPE = dict(model="yolo", dataset="shapes", image_size=128, epochs=45, batch_size=8, learning_rate=2e-3,
              augment=("flip",), seed=0)
# keras-cv's YOLOV8Detector: the yolo_v8_xs_backbone preset's configuration, fresh weights.
KERAS_CV = dict(stackwise_channels=(32, 64, 128, 256), stackwise_depth=(1, 2, 2, 1), fpn_depth=1,
                learning_rate=1e-3)
KERAS_CV_ROWS = 8  # label rows kept per image for keras-cv (a shapes scene holds at most 3)


class _Budget(keras.callbacks.Callback):
    """Stops training once `seconds` have passed since it began; counts the steps."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.steps = seconds, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def keras_cv_run(image_size, seconds, *, batch_size, seed):
    """keras-cv's YOLOV8Detector trained on the shapes training split for `seconds`,
    scored on the test split by zoo.boxes.evaluate: its bench row, AP results."""
    import keras_cv

    from training import augment, data
    from training.tasks.detection import EVAL_THRESHOLDS

    keras.utils.set_random_seed(seed)
    shapes = data.load("shapes", image_shape=(image_size, image_size, 3), task="detection")
    flip = augment.build_box_augmenter(["flip"], image_shape=(image_size, image_size, 3), seed=seed,
                                       value_range=(0, 1))

    def keras_cv_batch(images, labels):
        # keras-cv's labels: xyxy pixels, padding rows all -1 (its loss masks boxes <= -1).
        real = labels["classes"][:, :KERAS_CV_ROWS] >= 0
        boxes = tf.where(real[..., None], labels["boxes"][:, :KERAS_CV_ROWS] * image_size, -1.0)
        classes = tf.where(real, tf.cast(labels["classes"][:, :KERAS_CV_ROWS], tf.float32), -1.0)
        return images * 255.0, {"boxes": boxes, "classes": classes}

    def augmented(images, labels):
        return keras_cv_batch(*flip(data.to_unit(images), labels))

    train_split = (shapes.cached["train"].shuffle(shapes.sizes["train"], seed=seed).repeat()
                   .batch(batch_size, drop_remainder=True).map(augmented).prefetch(2))
    backbone = keras_cv.models.YOLOV8Backbone(
        stackwise_channels=list(KERAS_CV["stackwise_channels"]),
        stackwise_depth=list(KERAS_CV["stackwise_depth"]), include_rescaling=True,
        activation="swish", input_shape=(image_size, image_size, 3))
    model = keras_cv.models.YOLOV8Detector(num_classes=len(shapes.class_names), bounding_box_format="xyxy",
                                           backbone=backbone, fpn_depth=KERAS_CV["fpn_depth"])
    model.compile(optimizer=keras.optimizers.Adam(KERAS_CV["learning_rate"], global_clipnorm=10.0),
                  classification_loss="binary_crossentropy", box_loss="ciou")
    steps_per_epoch = shapes.sizes["train"] // batch_size
    budget = _Budget(seconds)
    start = time.perf_counter()
    model.fit(train_split, epochs=10**6, steps_per_epoch=steps_per_epoch, callbacks=[budget], verbose=0)
    train_s = time.perf_counter() - start
    model.prediction_decoder = keras_cv.layers.NonMaxSuppression(
        bounding_box_format="xyxy", from_logits=False,
        confidence_threshold=EVAL_THRESHOLDS["score_threshold"],
        iou_threshold=EVAL_THRESHOLDS["iou_threshold"], max_detections=EVAL_THRESHOLDS["max_detections"])
    predicted, truth = [], []
    test_split = shapes.cached["test"].map(lambda x, y: (data.to_unit(x) * 255.0, y)).batch(32)
    for images, labels in test_split.as_numpy_iterator():
        out = model.predict(images, verbose=0)
        for i, n in enumerate(np.asarray(out["num_detections"])):
            predicted.append({"boxes": np.asarray(out["boxes"][i][:n], "float64"),
                              "scores": np.asarray(out["confidence"][i][:n], "float64"),
                              "classes": np.asarray(out["classes"][i][:n]).astype(int)})
            real = labels["classes"][i] >= 0
            truth.append({"boxes": labels["boxes"][i][real] * image_size, "classes": labels["classes"][i][real]})
    result = zb.evaluate(predicted, truth, class_names=shapes.class_names)
    row = {"model": f"keras-cv YOLOV8Detector (xs config), {image_size} px", "params": model.count_params(),
           "epochs": round(budget.steps / steps_per_epoch, 1),
           "AP": result["AP"], "AP50": result["AP50"], "AP75": result["AP75"], "best_epoch": None,
           "train_s": train_s, "tflite_ms": None, "keras_ms": None, "parity": None}
    return row, result


def main(argv):
    del argv
    recipe = dict(RECIPE, **(dict(image_size=64, epochs=2) if QUICK.value else {}))
    with tempfile.TemporaryDirectory() as folder:
        config = RunConfig(mixed_precision="float32", export=("tflite",),
                           model_dir=os.path.join(folder, "run"), **recipe)
        result = train(config)
        if PICTURE.value:
            shutil.copyfile(os.path.join(folder, "run", "detections.png"), PICTURE.value)
    report, exported = result["eval"], result["export"][0]
    latency = exported.get("latency_ms", {})
    row = {"model": f"yolo (mobilenet_v2), {recipe['image_size']} px", "params": result["model"].count_params(),
           "epochs": recipe["epochs"],
           "AP": report["AP"], "AP50": report["AP50"], "AP75": report["AP75"],
           "best_epoch": report["best_epoch"], "train_s": result["seconds"],
           "tflite_ms": latency.get("tflite"), "keras_ms": latency.get("keras"),
           "parity": exported["tflite"]["parity"]["detection_agreement"]}
    print(format_table([row]), flush=True)
    keras.backend.clear_session()
    other, other_result = keras_cv_run(recipe["image_size"], result["seconds"],
                                                     batch_size=recipe["batch_size"], seed=recipe["seed"])
    ratio = report["AP50"] / other["AP50"] if other["AP50"] else None  # None: keras-cv found nothing
    print(format_table([row, other]), flush=True)
    print(f"AP50 ratio zoo / keras-cv: {ratio if ratio is None else round(ratio, 3)} (goal >= 1.0)", flush=True)
    write_json(OUTPUT.value, {"quick": QUICK.value, "recipe": recipe, "versions": versions(),
                              "rows": [row, other], "ap50_ratio_zoo_over_keras_cv": ratio,
                              "per_class": report["per_class"], "anchors": report["anchors"],
                              "keras_cv": {**KERAS_CV, "budget_s": result["seconds"],
                                           "per_class": other_result["per_class"]}})


if __name__ == "__main__":
    app.run(main)
