"""The layers of a YOLO detector that hold its facts: the output grid (which
carries the anchors and the stride, so that a saved model knows how to decode
itself) and the in-graph post-processing (decoding and non-max suppression)."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import boxes as zb


def check_anchors(anchors, where="anchors"):
    """`anchors` as a float32 array [B, 2] of positive (width, height), or a ValueError."""
    try:
        array = np.asarray(anchors, np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != 2 \
            or not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{where} must be [B, 2] positive (width, height) in grid cells, B >= 1 "
                         f"(e.g. zoo.boxes.anchors_from_boxes(boxes, 5) / stride); got {anchors!r}.")
    return array.astype(np.float32)


@keras.saving.register_keras_serializable(package="zoo")
class YoloGrid(keras.layers.Layer):
    """[batch, rows, columns, B * (5 + C)] -> [batch, rows, columns, B, 5 + C]:
    a YOLO head's 1x1 conv output as one vector per (cell, anchor), laid out
    (t_x, t_y, t_w, t_h, t_o, class logits c_1..c_C).

    No weights: it holds the `anchors` ([B, 2] (width, height) in grid cells)
    and the `stride` (pixels per cell) that decode the grid, in its config.
    """

    def __init__(self, anchors, num_classes, stride, **kwargs):
        super().__init__(**kwargs)
        self.anchors = check_anchors(anchors)
        self.num_classes = int(num_classes)
        self.stride = int(stride)

    @property
    def num_anchors(self):
        return len(self.anchors)

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (shape[0], shape[1], shape[2], self.num_anchors, 5 + self.num_classes))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.num_anchors, 5 + self.num_classes)

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.tolist(), "num_classes": self.num_classes,
                "stride": self.stride}


@keras.saving.register_keras_serializable(package="zoo")
class YoloDetections(keras.layers.Layer):
    """A YOLO grid [batch, rows, columns, B, 5 + C] -> detections, padded to
    `max_detections` per image:

    - boxes [batch, max_detections, 4]: (x_min, y_min, x_max, y_max) pixels,
      clipped to the image (rows * stride high, columns * stride wide);
    - scores [batch, max_detections]: objectness * softmax class probability
      (YOLOv2's class-specific confidence), best first;
    - classes [batch, max_detections] int32;
    - count [batch] int32: how many of the rows are detections. Rows past the
      count hold boxes and scores 0 and class -1.

    Each (cell, anchor) box takes its most probable class; boxes scoring
    <= `score_threshold` are dropped, then non-max suppression per class
    suppresses boxes overlapping a better box of their class by IoU >
    `iou_threshold` (`zoo.boxes.nms(..., class_aware=True)`'s rule).

    The suppression is TensorFlow's NonMaxSuppressionV5 op, which TFLite runs
    as its builtin NON_MAX_SUPPRESSION_V5 (tf.image.combined_non_max_suppression
    needs Flex, and tf.image.non_max_suppression_padded converts to a large
    while-loop graph). That op knows no classes, so each box is shifted by
    class * (image side + 1) pixels first: boxes of different classes never
    overlap, boxes of one class keep their IoU (up to float32 rounding of the
    shifted coordinates, ~1e-7 * classes * image side / box side relative).
    """

    def __init__(self, anchors, stride, score_threshold=0.25, iou_threshold=0.45, max_detections=100,
                 **kwargs):
        super().__init__(**kwargs)
        self.anchors = check_anchors(anchors)
        self.stride = int(stride)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1]; got {iou_threshold!r}.")
        if self.max_detections < 1:
            raise ValueError(f"max_detections must be a positive int; got {max_detections!r}.")

    def call(self, grid):
        grid = ops.cast(grid, "float32")
        shape = ops.shape(grid)
        height, width = shape[1] * self.stride, shape[2] * self.stride
        image_size = (ops.cast(height, "float32"), ops.cast(width, "float32"))
        boxes, objectness = zb.yolo_decode(grid, anchors=self.anchors, image_size=image_size)
        lower = ops.zeros((4,), "float32")
        upper = ops.stack([image_size[1], image_size[0]] * 2)
        boxes = ops.clip(boxes, lower, upper)
        probabilities = ops.softmax(grid[..., 5:], axis=-1)
        # tf.argmax: keras' ops.argmax adds a BitwiseAnd (for -0.0) that TFLite runs only with Flex.
        classes = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        scores = objectness * ops.max(probabilities, axis=-1)
        batch = shape[0]
        boxes, scores, classes = (ops.reshape(boxes, (batch, -1, 4)), ops.reshape(scores, (batch, -1)),
                                  ops.reshape(classes, (batch, -1)))
        # Classes apart: a class's boxes live in their own square, past the others'.
        # (expand_dims: a [..., None] slice here needs Flex's StridedSlice in TFLite.)
        shift = ops.expand_dims(ops.cast(classes, "float32"), -1) * (ops.maximum(upper[0], upper[1]) + 1.0)
        # tf.image's order, (y_min, x_min, y_max, x_max).
        shifted = ops.take(boxes + shift, [1, 0, 3, 2], axis=-1)
        count = self.max_detections

        def one_image(args):
            image_boxes, image_shifted, image_scores, image_classes = args
            kept, _, valid = tf.raw_ops.NonMaxSuppressionV5(
                boxes=image_shifted, scores=image_scores, max_output_size=count,
                iou_threshold=self.iou_threshold, score_threshold=self.score_threshold, soft_nms_sigma=0.0,
                pad_to_max_output_size=True)
            # Static shapes: TFLite's while loop (map_fn) needs them to run.
            kept = tf.reshape(kept, [count])
            real = tf.range(count) < valid
            return (tf.where(real[:, None], tf.gather(image_boxes, kept), 0.0),
                    tf.where(real, tf.gather(image_scores, kept), 0.0),
                    tf.where(real, tf.gather(image_classes, kept), -1),
                    tf.reshape(valid, []))

        signature = (tf.TensorSpec([count, 4], tf.float32), tf.TensorSpec([count], tf.float32),
                     tf.TensorSpec([count], tf.int32), tf.TensorSpec([], tf.int32))
        return tf.map_fn(one_image, (boxes, shifted, scores, classes), fn_output_signature=signature)

    def compute_output_shape(self, input_shape):
        batch, count = input_shape[0], self.max_detections
        return (batch, count, 4), (batch, count), (batch, count), (batch,)

    def compute_output_spec(self, grid):
        batch, count = grid.shape[0], self.max_detections
        return (keras.KerasTensor((batch, count, 4), "float32"), keras.KerasTensor((batch, count), "float32"),
                keras.KerasTensor((batch, count), "int32"), keras.KerasTensor((batch,), "int32"))

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.tolist(), "stride": self.stride,
                "score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold,
                "max_detections": self.max_detections}
