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
class SpaceToDepth(keras.layers.Layer):
    """[batch, H, W, C] -> [batch, H / b, W / b, b * b * C]: each b x b block of
    pixels stacked along the channels (tf.nn.space_to_depth; TFLite's builtin
    SPACE_TO_DEPTH). YOLOv2's passthrough "reorg" layer: it brings a finer map
    to a coarser grid without losing any value. Darknet's reorg orders the
    channels differently; a permutation of channels that a following conv
    learns either way."""

    def __init__(self, block_size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
            raise ValueError(f"SpaceToDepth: block_size must be an int >= 2; got {block_size!r}.")
        self.block_size = block_size

    def call(self, inputs):
        return tf.nn.space_to_depth(inputs, self.block_size)

    def compute_output_shape(self, input_shape):
        b = self.block_size
        return (input_shape[0], *(None if d is None else d // b for d in input_shape[1:3]),
                None if input_shape[3] is None else input_shape[3] * b * b)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


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
    while-loop graph). That op knows no classes or images: one call suppresses
    the whole batch, each box shifted first into its own square of a lattice,
    by class * (width + 1) pixels across and image * (height + 1) down, so that
    boxes of different classes or images never overlap and boxes of one keep
    their IoU (up to float32 rounding of the shifted coordinates, 6e-8 relative
    of classes * width or batch * height). Each image then keeps its best
    `max_detections`. No loop over images (tf.map_fn): LiteRT's int8 quantizer
    stores a loop's outputs as int8 tensor lists and garbles them (seen with
    TF 2.21: boxes and scores 0).

    A full-integer (int8) TFLite export keeps this layer in float32
    (`export.tflite.FLOAT_LAYERS`): quantized, the decoding garbles the boxes
    and the shifted coordinates would share one int8 step across the lattice;
    LiteRT's NON_MAX_SUPPRESSION_V5 kernel is float only anyway.
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
        batch, height, width = shape[0], shape[1] * self.stride, shape[2] * self.stride
        image_size = (ops.cast(height, "float32"), ops.cast(width, "float32"))
        boxes, objectness = zb.yolo_decode(grid, anchors=self.anchors, image_size=image_size)
        upper = ops.stack([image_size[1], image_size[0]] * 2)
        boxes = ops.clip(boxes, ops.zeros((4,), "float32"), upper)
        probabilities = ops.softmax(grid[..., 5:], axis=-1)
        # tf.argmax: keras' ops.argmax adds a BitwiseAnd (for -0.0) that TFLite runs only with Flex.
        classes = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        scores = objectness * ops.max(probabilities, axis=-1)
        # Every (image, cell, anchor) of the batch in one list, suppressed in one NMS call.
        boxes, scores, classes = ops.reshape(boxes, (-1, 4)), ops.reshape(scores, (-1,)), ops.reshape(classes, (-1,))
        total = tf.shape(scores)[0]
        per_image = total // batch
        image = tf.range(total) // per_image
        # Each (image, class) group in its own square of a lattice (x by class, y by image);
        # tf.image's order, (y_min, x_min, y_max, x_max).
        shift_y = ops.cast(image * (height + 1), "float32")
        shift_x = ops.cast(classes * (width + 1), "float32")
        shift = ops.stack([shift_y, shift_x, shift_y, shift_x], axis=-1)
        kept, _, valid = tf.raw_ops.NonMaxSuppressionV5(
            boxes=ops.take(boxes, [1, 0, 3, 2], axis=-1) + shift, scores=scores, max_output_size=total,
            iou_threshold=self.iou_threshold, score_threshold=self.score_threshold, soft_nms_sigma=0.0,
            pad_to_max_output_size=True)
        # The kept boxes come best first; each image keeps its first max_detections, in
        # rows image * max_detections + rank (the rank from a running count per image).
        count = self.max_detections
        real = tf.range(total) < valid
        owner = kept // per_image
        member = tf.one_hot(owner, batch, dtype=tf.int32) * ops.expand_dims(ops.cast(real, "int32"), -1)
        rank = ops.sum(tf.cumsum(member, axis=0) * member, axis=1) - 1
        keep = ops.logical_and(real, rank < count)
        rows = batch * count
        slot = ops.expand_dims(ops.where(keep, owner * count + rank, rows), -1)  # row `rows`: dropped

        def place(values, shape):
            return tf.reshape(tf.scatter_nd(slot, values, tf.stack([rows + 1, *shape]))[:rows],
                              tf.stack([batch, count, *shape]))

        kept_boxes = tf.gather(boxes, kept) * ops.expand_dims(ops.cast(keep, "float32"), -1)
        return (place(kept_boxes, [4]),
                place(tf.gather(scores, kept) * ops.cast(keep, "float32"), []),
                place((tf.gather(classes, kept) + 1) * ops.cast(keep, "int32"), []) - 1,
                ops.sum(member * ops.expand_dims(ops.cast(keep, "int32"), -1), axis=0))

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
