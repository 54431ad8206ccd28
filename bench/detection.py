"""YOLO through the harness on the shapes scenes: `python -m bench.detection [--quick]`.

Trains `zoo-train --model=yolo --dataset=shapes` at 128 px (MobileNetV2
backbone, anchors by k-means on the training boxes, flip and crop moving the
boxes) and reports the test split's AP, AP50 and AP75 (zoo.boxes.evaluate,
pycocotools' numbers), and the exported detector's (NMS inside) TFLite latency
at batch 1 against the Keras model's. The issue's working bar is AP50 >= 0.8.

The comparison with keras-cv's YOLOV8Detector trained on the same data for
the same wall-clock time is not here yet. Not in `python -m bench`: the run
trains for minutes. Results go to bench/results_detection.json; `--picture`
copies the run's detections.png (the README's picture).
"""

import os
import shutil
import tempfile

from absl import app, flags

from bench.tables import format_table
from training.config import RunConfig
from training.train import train
from zoo.utils import versions, write_json

QUICK = flags.DEFINE_bool("quick", False, "Two epochs at 64 px: minutes less, not the numbers.")
OUTPUT = flags.DEFINE_string("output", os.path.join(os.path.dirname(__file__), "results_detection.json"),
                             "Where to write the results JSON.")
PICTURE = flags.DEFINE_string("picture", None, "Where to copy the run's detections.png.")

RECIPE = dict(model="yolo", dataset="shapes", image_size=128, epochs=45, batch_size=8, learning_rate=2e-3,
              augment=("flip",), seed=0)


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
    row = {"model": f"yolo (mobilenet_v2), {recipe['image_size']} px", "epochs": recipe["epochs"],
           "AP": report["AP"], "AP50": report["AP50"], "AP75": report["AP75"],
           "best_epoch": report["best_epoch"], "train_s": result["seconds"],
           "tflite_ms": latency.get("tflite"), "keras_ms": latency.get("keras"),
           "parity": exported["tflite"]["parity"]["detection_agreement"]}
    print(format_table([row]), flush=True)
    write_json(OUTPUT.value, {"quick": QUICK.value, "recipe": recipe, "versions": versions(),
                              "rows": [row], "per_class": report["per_class"],
                              "anchors": report["anchors"]})


if __name__ == "__main__":
    app.run(main)
