"""Classification: one class per image; logits out, one-hot targets."""

import keras
import tensorflow as tf

from training.errors import DataError
from training.tasks import Task


def crossentropy(targets, outputs, label_smoothing):
    """Softmax cross-entropy from logits over the last axis, in float32 (mixed
    precision computes logits in float16)."""
    return keras.losses.categorical_crossentropy(
        targets, tf.cast(outputs, tf.float32), from_logits=True, label_smoothing=label_smoothing)


class Classification(Task):
    name = "classification"
    monitor = "val_accuracy"
    output_kind = "logits"

    def targets(self, labels, num_classes):
        return tf.one_hot(labels, num_classes)

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        return crossentropy(targets, outputs, label_smoothing)

    def metrics(self, num_classes):
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if num_classes > 10:  # top-5 says little with few classes
            metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5_accuracy"))
        return metrics

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        from training import data

        raw, class_names = data.classification_source(name, data_dir, download)
        if classes:
            raw = {s: data.keep_classes(d, classes, len(class_names)) for s, d in raw.items()}
            class_names = tuple(class_names[int(c)] for c in classes)
        if len(class_names) < 2:
            raise DataError(f"--dataset={name!r} has {len(class_names)} class(es) after "
                            "--classes; a classifier needs at least 2.")
        return raw, class_names

    def check_dataset(self, name, *, model):
        from training.data import SEGMENTATION_ONLY

        if name in SEGMENTATION_ONLY:
            return (f"--dataset={name} is for segmentation and detection models (e.g. unet, yolo); --model={model} "
                    "is a classifier.")
        return None


TASK = Classification()
