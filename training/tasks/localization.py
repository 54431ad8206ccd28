"""One object per image (zoo.localization): classification with localisation, and
landmarks. Both read the detection sources' boxes (training/tasks/detection.py's
`BoxLabels`: the same datasets, the same box-keeping augmentation) and take
one object from each image, the largest; shapes scenes hold 0 or 1 shape
here, so that p_c = 0 images (background only) are there to learn from.

- localization: targets [p_c, b_x, b_y, b_h, b_w, one-hot classes] (the
  course's order, the box centre and size relative to the image), loss
  `zoo.losses.LocalizationLoss`. An image counts as right when p_c is right
  and, with an object, its class is right and its box overlaps by IoU >= 0.5:
  validation's share of those picks the best epoch.
- landmarks: targets [p, x_1, y_1, .., x_L, y_L], the points taken from the
  object's box (`POINTS`: its centre for L = 1, its corners for L = 4, both
  for L = 5), loss `zoo.losses.LandmarkLoss`. An image counts as right when p
  is right and, with an object, its points lie within `POINT_TOLERANCE` of the
  image side of theirs on average.
"""

import numpy as np
import tensorflow as tf

import zoo.losses
from training.errors import DataError
from training.tasks import Task
from training.tasks.detection import BoxLabels


def largest_object(labels):
    """(present [B] float32, box [B, 4] relative xyxy, class [B] int32) of the largest
    box in each image's padded labels (zeros and class 0 where there is none)."""
    boxes, classes = labels["boxes"], labels["classes"]
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    real = (classes >= 0) & (area > 0)
    pick = tf.argmax(tf.where(real, area, -1.0), axis=1, output_type=tf.int32)
    present = tf.cast(tf.reduce_any(real, axis=1), tf.float32)
    box = tf.gather(boxes, pick, batch_dims=1) * present[:, None]
    cls = tf.gather(classes, pick, batch_dims=1) * tf.cast(present, tf.int32)
    return present, box, cls


def _iou(a, b):
    """Row-wise IoU of xyxy boxes [N, 4] (numpy)."""
    inter = (np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
             * np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None))
    union = np.prod(a[:, 2:] - a[:, :2], 1) + np.clip(np.prod(b[:, 2:] - b[:, :2], 1), 0, None) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Localization(BoxLabels, Task):
    name = "localization"
    monitor = "val_localization_accuracy"
    output_kind = "localization"  # [p_c logit, b_x, b_y, b_h, b_w, class logits]
    whole_split_metrics = True
    shapes = (0, 1)
    iou_threshold = 0.5
    loss = zoo.losses.LocalizationLoss()

    def targets(self, labels, num_classes):
        present, box, cls = largest_object(labels)
        centre, size = (box[:, :2] + box[:, 2:]) / 2, box[:, 2:] - box[:, :2]
        return tf.concat([present[:, None], centre, size[:, ::-1],  # b_h before b_w
                          tf.one_hot(cls, num_classes) * present[:, None]], axis=1)

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        return self.loss.call(targets, tf.cast(outputs, tf.float32))

    def metrics(self, num_classes):
        return []  # split_metrics: each image's presence, class and box together

    def split_metrics(self, targets, outputs):
        def xyxy(v):  # (b_x, b_y, b_h, b_w) -> corners
            return np.concatenate([v[:, 0:2] - v[:, 3:1:-1] / 2, v[:, 0:2] + v[:, 3:1:-1] / 2], 1)

        present = targets[:, 0] > 0.5
        presence_right = (_sigmoid(outputs[:, 0]) > 0.5) == present
        class_right = np.argmax(outputs[:, 5:], 1) == np.argmax(targets[:, 5:], 1)
        iou = _iou(xyxy(targets[:, 1:5]), xyxy(outputs[:, 1:5]))
        right = presence_right & (~present | (class_right & (iou >= self.iou_threshold)))
        some = present.any()
        return {"localization_accuracy": float(right.mean()),
                "presence_accuracy": float(presence_right.mean()),
                "class_accuracy": float(class_right[present].mean()) if some else float("nan"),
                "mean_iou": float(iou[present].mean()) if some else float("nan")}


# Landmarks from a box: the points for each supported num_landmarks, as
# (x, y) pairs of indices into the box (x_min, y_min, x_max, y_max, x_centre, y_centre).
POINTS = {1: ((4, 5),), 4: ((0, 1), (2, 1), (2, 3), (0, 3)), 5: ((0, 1), (2, 1), (2, 3), (0, 3), (4, 5))}
POINT_TOLERANCE = 0.05


class Landmarks(BoxLabels, Task):
    name = "landmarks"
    monitor = "val_landmark_accuracy"
    output_kind = "landmarks"  # [presence logit, x_1, y_1, .., x_L, y_L]
    class_outputs = False  # the model keeps its own 1 + 2L outputs
    whole_split_metrics = True
    shapes = (0, 1)
    loss = zoo.losses.LandmarkLoss()

    def __init__(self, num_landmarks=None):
        self.num_landmarks = num_landmarks

    def for_model(self, model, *, class_names=()):
        outputs = model.outputs[0].shape[-1]
        count = (outputs - 1) // 2
        if count not in POINTS or outputs != 1 + 2 * count:
            raise DataError(f"The landmarks task takes its points from each object's box: its "
                            f"centre, corners, or both (num_landmarks {', '.join(map(str, POINTS))}); "
                            f"{model.name} predicts {outputs} numbers.")
        return Landmarks(count)

    def targets(self, labels, num_classes):
        if self.num_landmarks is None:
            raise RuntimeError("The landmarks task's targets depend on the model's number of points: "
                               "use training.tasks.get_task('landmarks').for_model(model).")
        present, box, _ = largest_object(labels)
        extended = tf.concat([box, (box[:, :2] + box[:, 2:]) / 2], axis=1)
        points = tf.gather(extended, [i for pair in POINTS[self.num_landmarks] for i in pair], axis=1)
        return tf.concat([present[:, None], points], axis=1)

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        return self.loss.call(targets, tf.cast(outputs, tf.float32))

    def metrics(self, num_classes):
        return []

    def split_metrics(self, targets, outputs):
        present = targets[:, 0] > 0.5
        presence_right = (_sigmoid(outputs[:, 0]) > 0.5) == present
        error = np.linalg.norm((targets[:, 1:] - outputs[:, 1:]).reshape(len(targets), -1, 2), axis=-1)
        mean_error = error.mean(axis=1)
        right = presence_right & (~present | (mean_error <= POINT_TOLERANCE))
        return {"landmark_accuracy": float(right.mean()),
                "presence_accuracy": float(presence_right.mean()),
                "mean_point_error": float(mean_error[present].mean()) if present.any() else float("nan")}


TASKS = {"localization": Localization(), "landmarks": Landmarks()}
