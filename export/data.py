"""Images for calibration (int8 representative data) and for parity checks.

Real data only: a named dataset (any the training harness takes) calibrates on
its train split and checks parity on its test split; without a dataset,
scikit-image's photos check parity.
"""

import numpy as np
from skimage import data as skdata
from skimage.transform import resize

from export.errors import ExportError

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "moon", "page")


def _fit(images, image_shape, value_range):
    """Images in [0, 1] of shape (n, h, w[, c]) -> (n, *image_shape) in value_range."""
    height, width, channels = image_shape
    out = np.empty((len(images), height, width, channels), "float32")
    for i, image in enumerate(images):
        image = resize(image, (height, width), order=1, anti_aliasing=image.shape[0] > height)
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[-1] != channels:
            image = image.mean(-1, keepdims=True) if channels == 1 else image[..., :1]
            image = np.repeat(image, channels, -1) if channels != 1 else image
        out[i] = image
    low, high = value_range
    return np.clip(out, 0, 1) * (high - low) + low


def load_dataset(name, *, image_shape, split, value_range=(0.0, 1.0), task="classification",
                 limit=2048):
    """(images, targets, class names) of the harness's dataset `name`, as numpy.

    The same sources and fixed splits as `python -m training.train --dataset=name`:
    `split` "train" calibrates int8, "test" is held out for parity.
    """
    from training import data as training_data

    if split not in ("train", "test"):
        raise ExportError(f"split must be 'train' or 'test'; got {split!r}.")
    try:
        source = training_data.load(name, image_shape=image_shape, task=task)
    except (ValueError, OSError) as error:
        raise ExportError(f"Representative data {name!r} could not be loaded: {error}") from error
    pairs = list(source.splits[split].take(limit).as_numpy_iterator())
    if not pairs:
        raise ExportError(f"Representative data {name!r} has no {split} examples.")
    images = np.stack([image for image, _ in pairs])
    targets = np.stack([target for _, target in pairs])
    low, high = value_range
    return images * (high - low) + low, targets, list(source.class_names)


def photos(image_shape, value_range=(0.0, 1.0)):
    """scikit-image's real photos, fitted to `image_shape` and `value_range`."""
    images = [getattr(skdata, n)() / 255.0 for n in PHOTOS]
    return _fit(images, image_shape, value_range)
