"""Detection: boxes and classes per image; a YOLO grid out (zoo.yolo), YOLOv2's loss.

Labels are {"boxes": [MAX_BOXES, 4] relative (x_min, y_min, x_max, y_max),
"classes": [MAX_BOXES]} per image (training/data.py's detection sources;
padding rows have class -1 and zero size). Augmentation moves the boxes with
the pixels (flip, crop; colour leaves both), before the targets are made.
Targets hold the grid `zoo.boxes.yolo_encode` makes for the model's grid and
anchors, and the boxes themselves, which evaluation scores against (not the
grid: encoding drops a box whose cell has no free anchor).

Evaluation decodes the grid and runs per-class NMS inside the compiled step
(the same `zoo.layers.YoloDetections` as the exported model), at COCO's low
score threshold, and scores all of a split at once with `zoo.boxes.evaluate`:
validation's AP50 picks the best epoch; eval.json holds the test split's AP,
AP50, AP75, VOC AP50, AR100 and per-class numbers, and the anchors.
detections.png draws some test images with the detections export keeps.
Export converts `zoo.detection_model` (decoding and NMS inside, TFLite builtins).

Unless --model_args gives anchors, the model is built with YOLOv2's choice of
`NUM_ANCHORS` anchors: k-means (1 - IoU) on the training split's box shapes.
"""

import inspect
import os

import numpy as np
import tensorflow as tf
from absl import logging

import zoo
from training.errors import DataError
from training.tasks import Task
from zoo import boxes as zb
from zoo.layers import YoloDetections
from zoo.losses import YoloLoss
from zoo.yolo import grid_layer

NUM_ANCHORS = 5  # YOLOv2's
# Evaluation keeps every detection worth ranking (COCO's practice); export keeps
# Darknet's detector thresholds: what a phone shows.
EVAL_THRESHOLDS = dict(score_threshold=0.001, iou_threshold=0.45, max_detections=100)
EXPORT_THRESHOLDS = dict(score_threshold=0.25, iou_threshold=0.45, max_detections=100)
PICTURE_IMAGES = 8  # test images in detections.png


class BoxLabels:
    """The data hooks of tasks whose labels are boxes and classes (detection, and
    localisation and landmarks, which read one object from them): the sources, the
    labels padded to MAX_BOXES rows, augmentation that moves the boxes."""

    shapes = (1, 3)  # how many shapes a shapes scene holds, (fewest, most)

    # --- data -----------------------------------------------------------------------------

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        from training import data

        if classes:
            raise DataError(f"--classes selects classification labels; {self.name} keeps "
                            "every box class.")
        return data.detection_source(name, image_shape, data_dir, download,
                                     shapes=self.shapes)

    def prepare_label(self, label, image_shape):
        # Relative boxes need nothing when the image is resized; pad to a fixed count to batch.
        from training.data import MAX_BOXES

        boxes = tf.reshape(tf.cast(label["boxes"], tf.float32), [-1, 4])[:MAX_BOXES]
        classes = tf.reshape(tf.cast(label["classes"], tf.int32), [-1])[:MAX_BOXES]
        pad = MAX_BOXES - tf.shape(classes)[0]
        return {"boxes": tf.ensure_shape(tf.pad(boxes, [[0, pad], [0, 0]]), [MAX_BOXES, 4]),
                "classes": tf.ensure_shape(tf.pad(classes, [[0, pad]], constant_values=-1),
                                           [MAX_BOXES])}

    def check_dataset(self, name, *, model):
        from training.data import COCO_PREFIX, TFDS_DETECTION

        base = name.split("/")[0].split(":")[0]
        if name == "shapes" or name.startswith(COCO_PREFIX) or base in TFDS_DETECTION:
            return None
        return (f"--model={model} finds objects: --dataset must have boxes (shapes, "
                f"{COCO_PREFIX}/path/annotations.json, or the tfds sets "
                f"{', '.join(TFDS_DETECTION)}, e.g. voc/2007); got {name!r}.")

    def check_augment(self, names):
        from training import augment

        return augment.check_box_augment(names)

    def build_augmenter(self, names, **kwargs):
        from training import augment

        return augment.build_box_augmenter(names, box_format="rel_xyxy", **kwargs)

    def augment(self, augmenter, images, labels):
        return augmenter(images, labels)


class Detection(BoxLabels, Task):
    name = "detection"
    monitor = "val_AP50"
    output_kind = "yolo_grid"
    whole_split_metrics = True

    def __init__(self, grid=None, image_size=None, class_names=()):
        # Bound by `for_model`: the model's YoloGrid layer (anchors, stride), its input size.
        self.grid, self.image_size, self.class_names = grid, image_size, tuple(class_names)
        if grid is not None:
            self.grid_size = tuple(d // grid.stride for d in image_size)
            self.loss = YoloLoss(grid.anchors)
            # float32 under a mixed-precision policy too: boxes and scores are ranked.
            self.detections = YoloDetections(grid.anchors, grid.stride, dtype="float32",
                                             **EVAL_THRESHOLDS)

    def for_model(self, model, *, class_names=()):
        try:
            grid = grid_layer(model)
        except ValueError as error:
            raise DataError(f"The detection task trains YOLO grid models: {error}") from None
        image_size = tuple(int(d) for d in model.inputs[0].shape[1:3])
        return Detection(grid, image_size, class_names)

    def _bound(self):
        if self.grid is None:
            raise RuntimeError("The detection task's targets and loss depend on the model's grid: "
                               "use training.tasks.get_task('detection').for_model(model).")

    # --- targets, loss, evaluation ----------------------------------------------------

    def targets(self, labels, num_classes):
        self._bound()
        signature = tf.TensorSpec([*self.grid_size, self.grid.num_anchors, 6], tf.float32)
        grids = tf.map_fn(lambda pair: zb.yolo_encode(
            pair[0], pair[1], anchors=self.grid.anchors, grid_size=self.grid_size,
            image_size=self.image_size, box_format="rel_xyxy"),
            (labels["boxes"], labels["classes"]), fn_output_signature=signature)
        return {"grid": grids, "boxes": labels["boxes"], "classes": labels["classes"]}

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        self._bound()
        return self.loss.call(targets["grid"], tf.cast(outputs, tf.float32))

    def metrics(self, num_classes):
        return []  # AP ranks detections over a whole split: split_metrics

    def kept(self, targets, outputs):
        boxes, scores, classes, count = self.detections(outputs)
        return ({"boxes": targets["boxes"], "classes": targets["classes"]},
                {"boxes": boxes, "scores": scores, "classes": classes, "count": count})

    def evaluate(self, targets, detections):
        """zoo.boxes.evaluate of the kept `detections` against the true boxes in `targets`."""
        height, width = self.image_size
        scale = np.array([width, height, width, height], "float64")
        truth, predicted = [], []
        for i, count in enumerate(detections["count"]):
            real = targets["classes"][i] >= 0
            truth.append({"boxes": targets["boxes"][i][real] * scale,
                          "classes": targets["classes"][i][real]})
            predicted.append({key: detections[key][i][:count] for key in ("boxes", "scores", "classes")})
        if not any(len(t["classes"]) for t in truth):
            raise DataError("The split holds no boxes, so its AP is undefined.")
        return zb.evaluate(predicted, truth, class_names=self.class_names or None)

    def split_metrics(self, targets, outputs):
        result = self.evaluate(targets, outputs)
        return {key: float("nan") if result[key] is None else result[key]
                for key in ("AP", "AP50", "AP75")}

    def evaluate_run(self, trainer, datasets, run_dir):
        results, targets, detections = trainer.predict(datasets["test"])
        result = self.evaluate(targets, detections)
        _plot_detections(trainer.model, datasets["test"], os.path.join(run_dir, "detections.png"),
                         self.class_names)
        report = {"loss": results["loss"]}
        report.update({key: result[key] for key in ("AP", "AP50", "AP75", "VOC_AP50", "AR100")})
        report.update(per_class=result["per_class"], anchors=self.grid.anchors.tolist(),
                      evaluation=dict(EVAL_THRESHOLDS))
        return report

    def model_args(self, model_args, *, model, data, image_shape):
        entry = zoo.get_entry(model)
        if "anchors" in model_args or "anchors" not in entry.family_args():
            return model_args
        backbone = model_args.get(
            "backbone", inspect.signature(entry.builder).parameters["backbone"].default)
        # The grid's stride: the backbone's deepest unless the model takes a finer grid_stride.
        stride = model_args.get("grid_stride") or zoo.get_entry(backbone).features[-1][0]
        shapes = []
        for _, label in data.cached["train"].as_numpy_iterator():
            real = label["classes"] >= 0
            shapes.append(label["boxes"][real, 2:] - label["boxes"][real, :2])
        shapes = np.concatenate(shapes) * np.array(image_shape[1::-1]) / stride  # grid cells
        shapes = shapes[np.all(shapes > 0, axis=1)]
        if not len(shapes):
            raise DataError("The training split holds no boxes to choose anchors from.")
        k = min(NUM_ANCHORS, len(np.unique(shapes, axis=0)))
        anchors = zb.anchors_from_boxes(shapes, k)
        logging.info("Anchors (grid cells) from %d training boxes: %s", len(shapes), anchors.tolist())
        return {**model_args, "anchors": anchors.round(4).tolist()}

    def export_model(self, model):
        from export.source import DETECTION_KINDS

        return zoo.detection_model(model, **EXPORT_THRESHOLDS), list(DETECTION_KINDS)


def _plot_detections(model, dataset, png_path, class_names):
    """The first PICTURE_IMAGES images of `dataset` with the boxes `detection_model`
    (export's thresholds) finds, labelled with class and score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from export.source import value_range_of
    from zoo.utils import atomic_path

    images = np.stack([x for x, _ in dataset.unbatch().take(PICTURE_IMAGES).as_numpy_iterator()])
    boxes, scores, classes, count = (np.asarray(t) for t in
                                     zoo.detection_model(model, **EXPORT_THRESHOLDS)(images))
    low, high = value_range_of(model)
    columns = min(4, len(images))
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.5 * columns, 2.5 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, n, image_boxes, image_scores, image_classes in zip(
            axes.flat, images, count, boxes, scores, classes):
        ax.imshow(np.clip((image - low) / (high - low), 0, 1).squeeze(), cmap="gray")
        for (x1, y1, x2, y2), score, c in zip(image_boxes[:n], image_scores[:n], image_classes[:n]):
            colour = colours(int(c) % 10)
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color=colour, lw=1.5))
            name = class_names[c] if c < len(class_names) else str(c)
            ax.text(x1, y1, f"{name} {score:.2f}", color="white", fontsize=7, va="bottom",
                    bbox=dict(facecolor=colour, edgecolor="none", pad=1))
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


TASK = Detection()
