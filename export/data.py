"""Images for parity checks when the caller gives none: scikit-image's real photos.

Calibration and held-out images from a dataset come from the caller (the
harness passes its run's own; the CLI loads `--representative_data` through
`training.data.arrays`).
"""

import numpy as np
from skimage import data as skdata
from skimage.transform import resize

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


def photos(image_shape, value_range=(0.0, 1.0)):
    """scikit-image's real photos, fitted to `image_shape` and `value_range`."""
    images = [getattr(skdata, n)() / 255.0 for n in PHOTOS]
    return _fit(images, image_shape, value_range)
