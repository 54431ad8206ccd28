"""Input pipeline overhead: the harness's tf.data pipeline vs in-memory tensors.

The same model and the harness's own training step train on (a) the
harness's pipeline for `digits` and for a folder of real photos, with
`--augment=flip,crop,pca`, and (b) the same prepared images as pre-made
in-memory tensors without augmentation, each drawn from one iterator as the
harness does. A timed run is `EPOCHS_PER_RUN` epochs (short runs on a shared
2-core machine are mostly noise). Ratio = (b)'s time / (a)'s time: 1.0 means
the pipeline costs nothing; the target is >= 0.90. LeNet-5 is the hardest
case (its step is so cheap that augmentation on the same 2 cores shows); the
full run adds ResNet-18 on the folder for a typical model.
"""

import math
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from skimage import data as skdata
from skimage.io import imsave
from skimage.transform import resize

import zoo
from bench.timing import interleaved, ratio_columns
from training import augment, loop
from training import data as data_lib

AUGMENT = ("flip", "crop", "pca")
EPOCHS_PER_RUN = 3
TARGET = 0.90
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins")


def write_photo_folder(root, per_class):
    """A folder dataset: one class per scikit-image photo, random crops of it as images."""
    rng = np.random.default_rng(0)
    for name in PHOTOS:
        photo = getattr(skdata, name)()
        os.makedirs(os.path.join(root, name))
        for i in range(per_class):
            h, w = photo.shape[:2]
            top, left = rng.integers(0, h // 3), rng.integers(0, w // 3)
            crop = resize(photo[top:top + 2 * h // 3, left:left + 2 * w // 3], (96, 96),
                          preserve_range=True, anti_aliasing=True).astype("uint8")
            imsave(os.path.join(root, name, f"{i}.png"), crop, check_contrast=False)
    return root


def _measure(model_name, dataset_name, runs, batch_size, image_size=None, epochs_per_run=1):
    entry = zoo.get_entry(model_name)
    size = image_size or entry.input_shape[0]
    image_shape = (size, size, entry.input_shape[-1])
    data = data_lib.load(dataset_name, image_shape=image_shape)
    train = data.cached["train"]
    augmenter = augment.build_augmenter(AUGMENT, image_shape=image_shape, seed=0, value_range=(0, 1),
                                        pca_eigen=augment.pca_eigen(data_lib.sample_images(train)))
    piped = data_lib.batches(train, batch_size=batch_size, num_classes=data.num_classes,
                             training=True, seed=0, augmenter=augmenter)
    images = data_lib.sample_images(train, limit=100_000)
    labels = np.stack([y for _, y in train.as_numpy_iterator()])
    in_memory = tf.data.Dataset.from_tensor_slices(
        (images, keras.ops.one_hot(labels, data.num_classes))).repeat().batch(batch_size)
    steps = epochs_per_run * math.ceil(len(images) / batch_size)

    model = zoo.build(model_name, input_shape=image_shape, num_classes=data.num_classes)
    trainer = loop.Trainer(model, strategy=tf.distribute.get_strategy(),
                           task="classification", num_classes=data.num_classes)
    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    step = trainer.train_step(optimizer)

    def epochs(dataset):
        batches = iter(dataset)

        def run():
            for _ in range(steps):
                step(*next(batches))
        return run

    times = interleaved(runs, pipeline=epochs(piped), in_memory=epochs(in_memory))
    seen = steps * batch_size
    return {"dataset": dataset_name.split(":")[0], "model": model_name, "input": size,
            "augment": ",".join(AUGMENT),
            "images": len(images), "epochs_per_run": epochs_per_run,
            "pipeline_images_per_s": seen / times["pipeline"]["median"],
            "in_memory_images_per_s": seen / times["in_memory"]["median"],
            **ratio_columns(times["in_memory"], times["pipeline"], TARGET), "seconds": times}


def run(quick):
    runs, per_class, epochs = (2, 40, 1) if quick else (7, 100, EPOCHS_PER_RUN)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_photo_folder(os.path.join(tmp, "photos"), per_class)
        rows = [_measure("lenet5", "digits", runs, 32, epochs_per_run=epochs),
                _measure("lenet5", f"folder:{folder}", runs, 32, epochs_per_run=epochs)]
        if not quick:
            rows.append(_measure("resnet18", f"folder:{folder}", 5, 32, image_size=64))
        return rows
