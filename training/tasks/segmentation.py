"""Segmentation: one class per pixel; per-pixel logits out, per-pixel one-hot targets."""

import keras
import tensorflow as tf

from training.errors import DataError
from training.tasks import Task
from training.tasks.classification import crossentropy

# Augmentations that change pixel values only: the rest would move the image
# but not its mask.
STILL_AUGMENTATIONS = ("color", "pca")


class Segmentation(Task):
    name = "segmentation"
    monitor = "val_mean_iou"
    output_kind = "per_pixel_logits"

    def targets(self, labels, num_classes):
        return tf.one_hot(labels, num_classes)  # (batch, height, width, classes)

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        loss = crossentropy(targets, outputs, label_smoothing)  # per pixel
        return tf.reduce_mean(loss, axis=tuple(range(1, loss.shape.rank)))  # mean per image

    def metrics(self, num_classes):
        return [keras.metrics.CategoricalAccuracy(name="pixel_accuracy"),
                keras.metrics.MeanIoU(num_classes, name="mean_iou", sparse_y_true=False,
                                      sparse_y_pred=False)]

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        from training import data

        if classes:
            raise DataError("--classes selects classification labels; segmentation keeps "
                            "every mask class.")
        return data.segmentation_source(name, image_shape, data_dir, download)

    def prepare_label(self, label, image_shape):
        # The mask follows the image to the model's size; nearest keeps class values.
        mask = tf.image.resize(label[..., None], image_shape[:2], method="nearest")[..., 0]
        return tf.cast(mask, tf.int32)

    def check_dataset(self, name, *, model):
        from training.data import SEGMENTATION_ONLY, TFDS_SEGMENTATION

        base = name.split("/")[0].split(":")[0]
        masks = (*SEGMENTATION_ONLY, *TFDS_SEGMENTATION)
        if base not in masks:
            return (f"--model={model} segments images: --dataset must have masks "
                    f"({', '.join(masks)}); got {name!r}.")
        return None

    def check_augment(self, names):
        moving = [n for n in names if n not in STILL_AUGMENTATIONS]
        if moving:
            return (f"--augment={','.join(moving)} would move the image but not its mask; "
                    f"segmentation accepts {' and '.join(STILL_AUGMENTATIONS)}.")
        return None


TASK = Segmentation()
