"""Images for calibration (int8 representative data) and for parity checks.

Real data only: a named dataset's train split calibrates, its test split checks
parity; without a dataset, scikit-image's photos check parity.
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


def _digits(split):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    parts = train_test_split(digits.images / 16.0, digits.target, test_size=0.2,
                             random_state=0, stratify=digits.target)
    x_train, x_test, y_train, y_test = parts
    labels = [str(d) for d in digits.target_names]
    return (x_train, y_train, labels) if split == "train" else (x_test, y_test, labels)


DATASETS = {"digits": _digits}


def load_dataset(name, *, image_shape, split, value_range=(0.0, 1.0)):
    """(images, labels, class names) of dataset `name`, fitted to `image_shape`.

    `split` is "train" (calibration) or "test" (held out for parity).
    """
    # MERGE SEAM: once the harness lands, call its loader here for every name it
    # knows (training.data.load_dataset(name, image_shape=..., split=...,
    # batch_size=...)), converting its batches to numpy; keep "digits" below as
    # the offline default.
    if name not in DATASETS:
        raise ExportError(f"Unknown representative dataset {name!r}; this build knows: "
                          f"{', '.join(DATASETS)}.")
    if split not in ("train", "test"):
        raise ExportError(f"split must be 'train' or 'test'; got {split!r}.")
    images, targets, class_names = DATASETS[name](split)
    return _fit(images, image_shape, value_range), np.asarray(targets), class_names


def photos(image_shape, value_range=(0.0, 1.0)):
    """scikit-image's real photos, fitted to `image_shape` and `value_range`."""
    images = [getattr(skdata, n)() / 255.0 for n in PHOTOS]
    return _fit(images, image_shape, value_range)
