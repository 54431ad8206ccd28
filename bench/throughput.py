"""Training throughput, zoo vs keras.applications, on the same fixed data.

Each candidate trains one `fit` epoch on the same in-memory images after a
warm-up epoch; epochs alternate zoo, anchor, zoo, anchor. Ratio = anchor time /
zoo time, with its bootstrap interval; target >= 0.97.
"""

import keras
import numpy as np

import zoo
from bench.timing import interleaved, ratio_columns

# zoo name, keras.applications constructor
PAIRS = (
    ("resnet50", keras.applications.ResNet50),
    ("mobilenet_v2", keras.applications.MobileNetV2),
    ("efficientnet_b0", keras.applications.EfficientNetB0),
)
NUM_CLASSES = 10
TARGET = 0.97


def _fit_epoch(model, images, labels, batch_size):
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return lambda: model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0,
                             shuffle=False)


def run(quick):
    size, batch_size, steps, runs = (32, 4, 2, 2) if quick else (96, 32, 8, 7)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size * steps, size, size, 3)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, len(images))
    rows = []
    for name, anchor in PAIRS:
        if name not in zoo.list_models():
            continue
        shape = (size, size, 3)
        ours = zoo.build(name, input_shape=shape, num_classes=NUM_CLASSES)
        theirs = anchor(weights=None, input_shape=shape, classes=NUM_CLASSES,
                        classifier_activation=None)
        times = interleaved(runs, zoo=_fit_epoch(ours, images, labels, batch_size),
                            anchor=_fit_epoch(theirs, images, labels, batch_size))
        rows.append({
            "model": name, "input": size, "batch": batch_size,
            "zoo_images_per_s": len(images) / times["zoo"]["median"],
            "anchor_images_per_s": len(images) / times["anchor"]["median"],
            **ratio_columns(times["anchor"], times["zoo"], TARGET), "seconds": times,
        })
        keras.backend.clear_session()
    return rows
