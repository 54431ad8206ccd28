"""YOLO through the harness on the shapes scenes, against keras-cv's YOLOV8Detector
trained on the same data for the same wall-clock time: `python -m bench.detection [--quick]`.

Trains `zoo-train --model=yolo --dataset=shapes` at 128 px (RECIPE: MobileNetV2
backbone from scratch, anchors by k-means on the training boxes, flip and crop
moving the boxes, 45 epochs, batch 8, Adam 2e-3 cosine) and reports the test
split's AP, AP50 and AP75 (zoo.boxes.evaluate, pycocotools' numbers), and the
exported detector's (NMS inside) TFLite latency at batch 1 against the Keras
model's. The issue's working bar is AP50 >= 0.8.

The recipe's grid is NOT YOLOv2's S = input / 32 (the model's default): it
passes `--model_args=grid_stride=16`, an 8 x 8 grid on MobileNetV2's stride-16
map (with YOLOv2's passthrough from stride 8). YOLOv2's own pieces on the
stride-32 grid (4 x 4 cells at 128 px; passthrough, Darknet's 2 - w h
coordinate scale) reach test AP50 0.85, AP75 0.35: that model fits the 256
training images (train AP50 1.00) and localises coarsely on new ones (median
best IoU 0.75, 18 of 122 boxes best matched by the other class). The finer grid
reaches 0.94 / 0.67 with flip, and crop (the yolo default's shift) closes the
rest (class confusion on test images was the remaining error).

Then, in the same process, keras-cv 0.9's `YOLOV8Detector` (anchor-free, CIoU
and BCE losses, task-aligned assignment; a named dependency of the project)
is trained from scratch on the same training split at the same size, batch
size and augmentation, for as many seconds as zoo's whole run took (data,
training, per-epoch validation, test evaluation and export: a budget that
favours keras-cv, which spends it all on training), and its last weights are
scored on the same test split by the same `zoo.boxes.evaluate`, with the same
evaluation thresholds (score > 0.001, IoU 0.45, 100 detections; keras-cv's NMS
is class-agnostic, zoo's per class). Its network is the `yolo_v8_xs_backbone`
preset's configuration built by the preset-free constructor (no download),
random weights, fpn_depth 1, Adam with global_clipnorm 10 as keras-cv's
YOLOV8 guide. The figure is the ratio of test AP50s, zoo / keras-cv (goal >= 1.0).
Measured 2026-11-26 (bench/results_detection.json, a quiet machine): zoo AP50
0.992, AP75 0.950, AP 0.736 (best epoch 35; 341 s for 45 epochs, 2.6 M
parameters; TFLite 4.6 ms against Keras 9.8 ms), keras-cv AP50 0.991, AP75
0.991, AP 0.977 in the same 341 s (55.6 epochs): AP50 ratio 1.001, the goal
met by a hair; keras-cv's boxes are tighter (AP75, AP). Before (the stride-32
grid, flip only, a busier machine): zoo AP50 0.827 in 859 s against keras-cv's
1.000 in 107 epochs, ratio 0.83.

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

# grid_stride=16: an 8 x 8 grid on MobileNetV2's stride-16 map (YOLOv2's is the stride-32 map, 4 x 4 at
# 128 px); crop: the yolo default's shift, moving the boxes (flip alone overfits 256 images).
RECIPE = dict(model="yolo", dataset="shapes", image_size=128, epochs=45, batch_size=8, learning_rate=2e-3,
              augment=("flip", "crop"), model_args=("grid_stride=16",), seed=0)
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


def keras_cv_run(image_size, seconds, *, batch_size, seed, augment_names):
    """keras-cv's YOLOV8Detector trained on the shapes training split for `seconds`,
    scored on the test split by zoo.boxes.evaluate: its bench row, AP results."""
    import keras_cv

    from training import augment, data
    from training.tasks.detection import EVAL_THRESHOLDS

    keras.utils.set_random_seed(seed)
    shapes = data.load("shapes", image_shape=(image_size, image_size, 3), task="detection")
    augmenter = augment.build_box_augmenter(list(augment_names), image_shape=(image_size, image_size, 3),
                                            seed=seed, value_range=(0, 1))

    def keras_cv_batch(images, labels):
        # keras-cv's labels: xyxy pixels, padding rows all -1 (its loss masks boxes <= -1).
        sizes = labels["boxes"][:, :KERAS_CV_ROWS, 2:] - labels["boxes"][:, :KERAS_CV_ROWS, :2]
        real = (labels["classes"][:, :KERAS_CV_ROWS] >= 0) & tf.reduce_all(sizes > 0, axis=-1)  # not cropped away
        boxes = tf.where(real[..., None], labels["boxes"][:, :KERAS_CV_ROWS] * image_size, -1.0)
        classes = tf.where(real, tf.cast(labels["classes"][:, :KERAS_CV_ROWS], tf.float32), -1.0)
        return images * 255.0, {"boxes": boxes, "classes": classes}

    def augmented(images, labels):
        return keras_cv_batch(*augmenter(data.to_unit(images), labels))

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
    row = {"model": f"yolo (mobilenet_v2, {', '.join(recipe['model_args'])}), {recipe['image_size']} px",
           "params": result["model"].count_params(),
           "epochs": recipe["epochs"],
           "AP": report["AP"], "AP50": report["AP50"], "AP75": report["AP75"],
           "best_epoch": report["best_epoch"], "train_s": result["seconds"],
           "tflite_ms": latency.get("tflite"), "keras_ms": latency.get("keras"),
           "parity": exported["tflite"]["parity"]["detection_agreement"]}
    print(format_table([row]), flush=True)
    keras.backend.clear_session()
    other, other_result = keras_cv_run(recipe["image_size"], result["seconds"],
                                       batch_size=recipe["batch_size"], seed=recipe["seed"],
                                       augment_names=recipe["augment"])
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
