"""Data augmentation for the training harness, chosen by name with `--augment`.

Every augmentation is a keras layer: keras core's where it has one (rotation,
shear, colour jitter, MixUp, CutMix), a small serializable layer of ours
otherwise (pad-and-crop, random resized crop, PCA colour shift, elastic warp)
or where keras' is slow in a tf.data map (flip). They all

- augment when called with `training=True` (the default, as keras' own
  preprocessing layers) and return the images unchanged with `training=False`;
- take one image (H, W, C) or a batch (B, H, W, C), drawing one transform per
  image, and keep shape and float dtype;
- run inside a `tf.data` map (TensorFlow backend). Their random state is a
  keras SeedGenerator variable, so a pipeline is repeatable under a seed only
  when the augmenter is mapped sequentially: `num_parallel_calls=None`, or
  any map once `tf.config.experimental.enable_op_determinism()` is on (TF
  then runs stateful maps one at a time). Mapping after `batch()` keeps that
  cheap, as each call is vectorised over the batch.

Pixel values: the layers are told the `value_range` of the images ((0, 255)
by default, keras' convention). PCA eigen-decompositions are always those of
pixels scaled to [0, 1] (as `IMAGENET_PCA`); the shift is rescaled to the
value range.

Grayscale (1 channel): `color` is brightness and contrast only (saturation and
hue need RGB); `pca` uses the 1x1 covariance of the grey values, derived from
a 3-channel decomposition (ImageNet's by default) with `gray_eigen`, or
computed by `pca_eigen` on the grey training set itself.
"""

import math
import zlib

import keras
import numpy as np
import tensorflow as tf

# AlexNet's PCA constants for ImageNet pixels in [0, 1]: eigenvalues of the RGB
# covariance (largest first) and the eigenvectors as the columns of eigvec.
IMAGENET_PCA = (
    np.array([0.2175, 0.0188, 0.0045], dtype="float32"),
    np.array([[-0.5675, 0.7192, 0.4009],
              [-0.5808, -0.0045, -0.8140],
              [-0.5836, -0.6948, 0.4203]], dtype="float32"),
)

# Luma weights of tf.image.rgb_to_grayscale (ITU-R BT.601), used to turn an RGB
# covariance into the variance of the grey images the harness feeds LeNet.
_GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])


def pca_eigen(images):
    """Eigen-decomposition of the per-pixel channel covariance of a training set.

    `images`: float array (N, H, W, C) with values in [0, 1], or an iterable of
    such batches (the covariance is accumulated, so a dataset need not fit in
    memory). Returns (eigval, eigvec) as float32, eigenvalues largest first and
    eigenvectors as the columns of eigvec: the `pca_eigen` argument of
    `build_augmenter` and of `PCAColorShift`.
    """
    batches = [images] if hasattr(images, "shape") else images
    count, total, outer = 0, 0.0, 0.0
    for batch in batches:
        batch = np.asarray(batch, dtype="float64")
        if batch.ndim < 2:
            raise ValueError(f"pca_eigen needs images (..., channels), got shape {batch.shape}")
        if batch.size and batch.max() > 2:
            raise ValueError(f"pca_eigen expects pixels in [0, 1], got values up to {batch.max():g}; "
                             "divide 0-255 images by 255")
        pixels = batch.reshape(-1, batch.shape[-1])
        count += len(pixels)
        total = total + pixels.sum(axis=0)
        outer = outer + pixels.T @ pixels
    if count < 2:
        raise ValueError("pca_eigen needs at least two pixels")
    mean = total / count
    cov = (outer - count * np.outer(mean, mean)) / (count - 1)
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    return eigval[order].clip(min=0).astype("float32"), eigvec[:, order].astype("float32")


def gray_eigen(eigen):
    """The 1-channel decomposition matching an RGB one: the variance of grey pixels."""
    eigval, eigvec = (np.asarray(a, dtype="float64") for a in eigen)
    if eigval.shape == (1,):
        return eigen
    if eigval.shape != (3,):
        raise ValueError(f"gray_eigen needs an RGB (3-channel) eigen-decomposition, "
                         f"got {eigval.shape[0]} channels")
    cov = eigvec @ np.diag(eigval) @ eigvec.T
    return (np.array([_GRAY_WEIGHTS @ cov @ _GRAY_WEIGHTS], dtype="float32"),
            np.ones((1, 1), dtype="float32"))


def _as_batch(images):
    """Images as a batch (B, H, W, C) and a function that undoes the batching."""
    if images.shape.rank == 3:
        return images[None], lambda out: out[0]
    if images.shape.rank == 4:
        return images, lambda out: out
    raise ValueError(f"expected an image (H, W, C) or a batch (B, H, W, C), got shape {images.shape}")


class _RandomImageLayer(keras.layers.Layer):
    """Shared plumbing: a seeded random stream and the training switch."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        batch, unbatch = _as_batch(tf.convert_to_tensor(images))
        # ensure_shape keeps the static shape that crop_and_resize loses
        # (keras' CutMix fails on images of unknown height and width).
        return unbatch(tf.ensure_shape(tf.cast(self.augment(batch), images.dtype), batch.shape))

    def augment(self, images):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class HorizontalFlip(_RandomImageLayer):
    """Mirrors each image left-right with probability 1/2 (AlexNet's reflections).

    keras.layers.RandomFlip does the same with an element-wise broadcast
    `where`, which measured 3-5x slower in a tf.data map on this machine; a
    rank-1 Select copies whole images instead.
    """

    def augment(self, images):
        flip = keras.random.uniform((tf.shape(images)[0],), seed=self.generator) < 0.5
        return tf.raw_ops.Select(condition=flip, x=tf.reverse(images, axis=[2]), y=images)


@keras.saving.register_keras_serializable(package="zoo")
class RandomPadCrop(_RandomImageLayer):
    """Pad-and-crop (He et al. on CIFAR; AlexNet's random crops): pad each side
    by `padding` pixels, then cut a random window of the original size.

    Done as one integer translation per image (`keras.ops.image.affine_transform`,
    nearest neighbour, so pixels are copied exactly); `fill_mode` fills the
    border as that op does: "constant" (zeros), "reflect" (d c b a | a b c d),
    "wrap" or "nearest".
    """

    FILL_MODES = ("constant", "reflect", "wrap", "nearest")

    def __init__(self, padding=4, fill_mode="constant", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if fill_mode not in self.FILL_MODES:
            raise ValueError(f"fill_mode={fill_mode!r}: expected one of {', '.join(self.FILL_MODES)}")
        self.padding = int(padding)
        self.fill_mode = fill_mode

    def augment(self, images):
        n, p = tf.shape(images)[0], self.padding
        shift = tf.cast(keras.random.randint((n, 2), -p, p + 1, seed=self.generator), "float32")
        zero, one = tf.zeros((n,)), tf.ones((n,))
        # Output pixel (x, y) reads input pixel (x + dx, y + dy).
        transform = tf.stack([one, zero, shift[:, 1], zero, one, shift[:, 0], zero, zero], axis=1)
        return keras.ops.image.affine_transform(tf.cast(images, "float32"), transform,
                                                interpolation="nearest", fill_mode=self.fill_mode)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "fill_mode": self.fill_mode}


@keras.saving.register_keras_serializable(package="zoo")
class RandomResizedCrop(_RandomImageLayer):
    """Inception-style crop (Szegedy et al. 2015): a window of random area
    (`scale`, fraction of the image) and aspect ratio (`ratio`, log-uniform),
    resized back to the input size. A window wider or taller than the image
    is clipped to it."""

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale={scale}: expected 0 < min <= max <= 1")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"ratio={ratio}: expected 0 < min <= max")
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)

    def augment(self, images):
        shape = tf.shape(images)
        n, size = shape[0], shape[1:3]
        height, width = tf.cast(shape[1], "float32"), tf.cast(shape[2], "float32")
        area = keras.random.uniform((n,), *self.scale, seed=self.generator)
        log_ratio = keras.random.uniform((n,), *map(math.log, self.ratio), seed=self.generator)
        aspect = tf.exp(log_ratio)  # width / height, in pixels
        h = tf.minimum(tf.sqrt(area * width / (height * aspect)), 1.0)  # fractions of the side
        w = tf.minimum(tf.sqrt(area * height * aspect / width), 1.0)
        corner = keras.random.uniform((n, 2), seed=self.generator) * tf.stack([1 - h, 1 - w], axis=1)
        boxes = tf.concat([corner, corner + tf.stack([h, w], axis=1)], axis=1)
        return tf.image.crop_and_resize(tf.cast(images, "float32"), boxes, tf.range(n), size)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "ratio": self.ratio}


@keras.saving.register_keras_serializable(package="zoo")
class PCAColorShift(_RandomImageLayer):
    """AlexNet's colour augmentation (Krizhevsky et al. 2012, section 4.1):
    add eigvec @ (alpha * eigval) to every pixel, alpha ~ N(0, sigma) drawn per
    image and per component. The eigen-decomposition is of pixels in [0, 1];
    the shift is scaled by the width of `value_range`. No clipping, as AlexNet."""

    def __init__(self, eigval=IMAGENET_PCA[0], eigvec=IMAGENET_PCA[1], sigma=0.1,
                 value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.eigval = np.asarray(eigval, dtype="float32").reshape(-1)
        self.eigvec = np.asarray(eigvec, dtype="float32")
        channels = len(self.eigval)
        if self.eigvec.shape != (channels, channels):
            raise ValueError(f"eigvec has shape {self.eigvec.shape}; expected ({channels}, {channels}) "
                             f"to match {channels} eigenvalues")
        self.sigma = float(sigma)
        self.value_range = tuple(float(v) for v in value_range)

    def build(self, input_shape):
        if input_shape[-1] not in (None, len(self.eigval)):
            raise ValueError(
                f"PCAColorShift has a {len(self.eigval)}-channel eigen-decomposition but the images have "
                f"{input_shape[-1]} channels; compute one with pca_eigen() on these images "
                "(or gray_eigen() of an RGB one for grayscale)")
        super().build(input_shape)

    def augment(self, images):
        alpha = keras.random.normal((tf.shape(images)[0], len(self.eigval)), stddev=self.sigma,
                                    seed=self.generator)
        # Row-wise eigvec @ (alpha * eigval): one colour offset per image.
        offset = tf.matmul(alpha * self.eigval, self.eigvec, transpose_b=True)
        offset *= self.value_range[1] - self.value_range[0]
        return tf.cast(images, "float32") + offset[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "eigval": self.eigval.tolist(), "eigvec": self.eigvec.tolist(),
                "sigma": self.sigma, "value_range": self.value_range}


def _gaussian_kernel(sigma):
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype("float32")


def _bilinear_sample(images, rows, cols):
    """images (B, H, W, C) sampled at real coordinates rows, cols (B, H, W);
    coordinates outside the image take the nearest edge pixel."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    rows = tf.clip_by_value(rows, 0.0, tf.cast(height - 1, "float32"))
    cols = tf.clip_by_value(cols, 0.0, tf.cast(width - 1, "float32"))
    r0, c0 = tf.floor(rows), tf.floor(cols)
    wr, wc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0, c0 = tf.cast(r0, "int32"), tf.cast(c0, "int32")
    r1, c1 = tf.minimum(r0 + 1, height - 1), tf.minimum(c0 + 1, width - 1)
    flat = tf.reshape(images, [shape[0], -1, shape[3]])

    def at(r, c):
        return tf.gather(flat, r * width + c, batch_dims=1)

    top = at(r0, c0) * (1 - wc) + at(r0, c1) * wc
    bottom = at(r1, c0) * (1 - wc) + at(r1, c1) * wc
    return top * (1 - wr) + bottom * wr


@keras.saving.register_keras_serializable(package="zoo")
class ElasticWarp(_RandomImageLayer):
    """Local elastic warping (Simard et al. 2003): a random displacement field,
    uniform in [-1, 1] per pixel and axis, smoothed by a Gaussian of `sigma`
    pixels and scaled by `alpha` pixels, resamples the image bilinearly.
    Simard's values for 28x28 digits are alpha=34, sigma=4."""

    def __init__(self, alpha=34.0, sigma=4.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if sigma <= 0 or alpha < 0:
            raise ValueError(f"alpha={alpha}, sigma={sigma}: expected alpha >= 0 and sigma > 0")
        self.alpha = float(alpha)
        self.sigma = float(sigma)

    def augment(self, images):
        shape = tf.shape(images)
        field = keras.random.uniform((shape[0], shape[1], shape[2], 2), -1.0, 1.0, seed=self.generator)
        taps = _gaussian_kernel(self.sigma)
        for kernel in (taps.reshape(-1, 1, 1, 1), taps.reshape(1, -1, 1, 1)):  # separable blur
            field = tf.nn.depthwise_conv2d(field, np.tile(kernel, (1, 1, 2, 1)), [1, 1, 1, 1], "SAME")
        field *= self.alpha
        rows = tf.cast(tf.range(shape[1]), "float32")[None, :, None] + field[..., 0]
        cols = tf.cast(tf.range(shape[2]), "float32")[None, None, :] + field[..., 1]
        return _bilinear_sample(tf.cast(images, "float32"), rows, cols)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "sigma": self.sigma}


# --- the table behind --augment ------------------------------------------------
# Each factory takes the image shape (H, W, C), the PCA eigen-decomposition,
# the value range and the keras layer kwargs (seed, name, dtype), and returns a layer.

def _flip(shape, eigen, value_range, **common):
    return HorizontalFlip(**common)


def _crop(shape, eigen, value_range, **common):
    return RandomPadCrop(padding=max(1, round(min(shape[:2]) / 8)), **common)


def _resized_crop(shape, eigen, value_range, **common):
    return RandomResizedCrop(**common)


def _pca(shape, eigen, value_range, **common):
    eigen = IMAGENET_PCA if eigen is None else eigen
    if shape[-1] == 1:
        eigen = gray_eigen(eigen)
    return PCAColorShift(*eigen, value_range=value_range, **common)


def _rotate(shape, eigen, value_range, **common):
    return keras.layers.RandomRotation(15 / 360, **common)  # +-15 degrees


def _shear(shape, eigen, value_range, **common):
    # Tuples, not floats: keras 3.15 saves a float f as (-f, f), which its own
    # constructor then rejects on load. A random sign is applied anyway.
    return keras.layers.RandomShear(x_factor=(0.0, 0.1), y_factor=(0.0, 0.1), **common)


def _elastic(shape, eigen, value_range, **common):
    size = min(shape[:2])  # Simard's alpha=34, sigma=4 at 28 pixels, scaled
    return ElasticWarp(alpha=34 / 28 * size, sigma=4 / 28 * size, **common)


def _color(shape, eigen, value_range, **common):
    rgb = dict(saturation_factor=(0.3, 0.7), hue_factor=0.05) if shape[-1] == 3 else {}
    return keras.layers.RandomColorJitter(value_range=value_range, brightness_factor=0.2,
                                          contrast_factor=0.2, **rgb, **common)


def _mixup(shape, eigen, value_range, **common):
    return keras.layers.MixUp(alpha=0.2, **common)


def _cutmix(shape, eigen, value_range, **common):
    return keras.layers.CutMix(factor=1.0, **common)


AUGMENTATIONS = {
    "flip": _flip,                  # horizontal mirroring
    "crop": _crop,                  # pad by 1/8 of the side, random crop back
    "resized_crop": _resized_crop,  # Inception-style random area and aspect
    "pca": _pca,                    # AlexNet PCA colour shift
    "rotate": _rotate,
    "shear": _shear,
    "elastic": _elastic,            # Simard et al. local warping
    "color": _color,                # brightness, contrast (+ saturation, hue on RGB)
    "mixup": _mixup,                # batch-level, from build_batch_augmenter
    "cutmix": _cutmix,              # batch-level, from build_batch_augmenter
}
BATCH_AUGMENTATIONS = ("mixup", "cutmix")
# The spatial ranks each augmentation works in (1: signals, 2: images, 3: volumes
# and clips). All are image operations today; keras' MixUp and CutMix take image
# batches only (MixUp reads a batch of signals as one image).
SPATIAL_DIMS = dict.fromkeys(AUGMENTATIONS, (2,))


def _parse(names):
    """A comma string or a list of names, checked against AUGMENTATIONS."""
    if isinstance(names, str):
        names = names.split(",")
    names = [n.strip() for n in names if n and n.strip()]
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; accepted: {', '.join(AUGMENTATIONS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"augmentation {', '.join(map(repr, repeated))} is listed more than once")
    return names


def check_spatial_dims(names, dims):
    """Raises ValueError naming the augmentations among `names` that do not work on
    examples with `dims` spatial axes."""
    refused = [n for n in _parse(names) if dims not in SPATIAL_DIMS[n]]
    if refused:
        accepted = [n for n in AUGMENTATIONS if dims in SPATIAL_DIMS[n]]
        ranks = sorted({d for n in refused for d in SPATIAL_DIMS[n]})
        raise ValueError(f"augmentation {', '.join(refused)} works on "
                         f"{' and '.join(f'{d}D' for d in ranks)} examples only, not {dims}D; "
                         f"for {dims}D: {', '.join(accepted) or 'none yet'}")


def _make(name, shape, eigen, value_range, seed):
    """The layer for one name, float32 even under a mixed-precision policy (it
    runs in the input pipeline), with a distinct, order-independent seed."""
    if seed is not None:
        seed = (int(seed) * 1_000_003 + zlib.crc32(name.encode())) % 2**31
    return AUGMENTATIONS[name](shape, eigen, value_range, seed=seed, name=f"augment_{name}", dtype="float32")


@keras.saving.register_keras_serializable(package="zoo")
class Augmenter(keras.Sequential):
    """The Sequential of per-image augmentations. Unlike a plain Sequential it
    takes a single image (H, W, C) as well as a batch, and is the identity when
    it has no layers, so a tf.data map can use it before or after batch()."""

    def build(self, input_shape=None):
        if self._layers:
            super().build(input_shape)
        self.built = True

    def call(self, inputs, training=None, mask=None, **kwargs):
        if not self._layers:
            return inputs
        if len(inputs.shape) == 3:
            return super().call(inputs[None], training=training, mask=mask, **kwargs)[0]
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def compute_output_shape(self, input_shape):
        return input_shape


def build_augmenter(names, *, image_shape, seed=None, pca_eigen=None, value_range=(0, 255)):
    """The per-image augmentations `names`, in that order, as a keras.Sequential
    (an `Augmenter`, built for batches of `image_shape`).

    `names`: list or comma string of AUGMENTATIONS keys; mixup and cutmix are
    left to `build_batch_augmenter`. `image_shape`: (H, W, C) of the images.
    `pca_eigen`: (eigval, eigvec) for `pca`, from `pca_eigen()` on the training
    set (default IMAGENET_PCA). `value_range`: the range of the pixel values.
    """
    image_shape = tuple(int(d) for d in image_shape)
    check_spatial_dims(names, len(image_shape) - 1)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape={image_shape}: expected (height, width, channels)")
    augmenter = Augmenter([_make(n, image_shape, pca_eigen, value_range, seed)
                           for n in _parse(names) if n not in BATCH_AUGMENTATIONS], name="augment")
    augmenter.build((None, *image_shape))
    return augmenter


class BatchAugmenter:
    """MixUp and/or CutMix (keras core) on a batch of images and one-hot labels;
    with both, each batch gets one of them at random (as timm does)."""

    def __init__(self, layers, num_classes, seed=None):
        self.layers = layers
        self.num_classes = num_classes
        self.generator = keras.random.SeedGenerator(seed)

    def __call__(self, images, labels):
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4:
            raise ValueError(f"MixUp/CutMix mix images across a batch: expected (B, H, W, C), "
                             f"got shape {images.shape}; apply them after batch()")
        if None in images.shape[1:3]:
            raise ValueError(f"MixUp/CutMix need images of static height and width, got shape {images.shape}; "
                             "set it with tf.ensure_shape")
        labels = tf.convert_to_tensor(labels)
        class_ids = labels.shape.rank == 1 or (labels.shape[-1] == 1 and self.num_classes > 1)
        if class_ids:
            labels = tf.one_hot(tf.reshape(tf.cast(labels, "int32"), [-1]), self.num_classes)
        elif labels.shape[-1] != self.num_classes:
            raise ValueError(f"labels of shape {labels.shape} are neither class ids nor one-hot "
                             f"over num_classes={self.num_classes}")
        mixed = [layer({"images": images, "labels": tf.cast(labels, "float32")}, training=True)
                 for layer in self.layers]
        if len(mixed) == 1:
            return mixed[0]["images"], mixed[0]["labels"]
        first = keras.random.uniform((), seed=self.generator) < 0.5
        return tuple(tf.where(first, mixed[0][key], mixed[1][key]) for key in ("images", "labels"))


# --- augmentations that keep boxes (detection) -----------------------------------
# Keras core's geometric layers move boxes given as {"boxes", "labels"} with a
# `bounding_box_format` (checked here: flip, translation, zoom and crop do, per image,
# clipping boxes to the image). "crop" is the harness's pad-and-crop: a translation by up
# to 1/8 of the side with a constant border (keras' default border, reflect, would
# mirror objects without boxes). Colour changes move nothing, so any colour layer serves.

def _box_flip(box_format, **common):
    return keras.layers.RandomFlip("horizontal", bounding_box_format=box_format, **common)


def _box_crop(box_format, **common):
    return keras.layers.RandomTranslation(1 / 8, 1 / 8, fill_mode="constant",
                                          bounding_box_format=box_format, **common)


BOX_AUGMENTATIONS = {"flip": _box_flip, "crop": _box_crop}
PIXEL_AUGMENTATIONS = ("color", "pca")  # change values only: boxes stay where they are


def check_box_augment(names):
    """An error sentence naming the augmentations among `names` that cannot keep
    boxes (rotations and shears would grow them, warps bend them, mixing blends
    two images' boxes), or None."""
    refused = [n for n in _parse(names) if n not in BOX_AUGMENTATIONS and n not in PIXEL_AUGMENTATIONS]
    if refused:
        return (f"--augment={','.join(refused)} would move the pixels but not the boxes; "
                f"detection accepts {', '.join((*BOX_AUGMENTATIONS, *PIXEL_AUGMENTATIONS))}.")
    return None


class BoxAugmenter:
    """Per-image augmentation of a batch of images and their boxes: the geometric
    layers move both, then the colour layers change the pixels.

    Called with images (B, H, W, C) and {"boxes": (B, N, 4), "classes": (B, N)}
    (boxes in `box_format`; padding rows of class -1 and zero size stay of zero size);
    returns both, boxes clipped to the image."""

    def __init__(self, moving, pixels, box_format):
        self.moving, self.pixels, self.box_format = moving, pixels, box_format

    def __call__(self, images, labels):
        data = {"images": images, "bounding_boxes": {"boxes": labels["boxes"],
                                                     "labels": tf.cast(labels["classes"], "float32")}}
        for layer in self.moving:
            data = layer(data, training=True)
        images = self.pixels(data["images"], training=True)
        boxes = tf.cast(data["bounding_boxes"]["boxes"], labels["boxes"].dtype)
        return images, {**labels, "boxes": boxes}


def build_box_augmenter(names, *, image_shape, seed=None, pca_eigen=None, value_range=(0, 255),
                        box_format="rel_xyxy"):
    """A `BoxAugmenter` for `names`, or ValueError for those that cannot keep boxes.
    Arguments as `build_augmenter`; `box_format` is a keras one ("rel_xyxy", "xyxy", ...)."""
    refused = check_box_augment(names)
    if refused:
        raise ValueError(refused)
    names = _parse(names)
    moving = []
    for name in (n for n in names if n in BOX_AUGMENTATIONS):
        layer_seed = None if seed is None else (int(seed) * 1_000_003 + zlib.crc32(name.encode())) % 2**31
        moving.append(BOX_AUGMENTATIONS[name](box_format, seed=layer_seed, name=f"augment_{name}",
                                              dtype="float32"))
    pixels = build_augmenter([n for n in names if n in PIXEL_AUGMENTATIONS], image_shape=image_shape,
                             seed=seed, pca_eigen=pca_eigen, value_range=value_range)
    return BoxAugmenter(moving, pixels, box_format)


def build_batch_augmenter(names, *, num_classes, seed=None):
    """A callable (images, labels) -> (images, mixed one-hot labels) for the
    mixup/cutmix among `names`, or None if neither is asked. Labels may be
    one-hot or integer class ids. Apply it to batches, after `batch()`."""
    chosen = [n for n in _parse(names) if n in BATCH_AUGMENTATIONS]
    if not chosen:
        return None
    layers = [_make(n, None, None, None, seed) for n in chosen]
    return BatchAugmenter(layers, num_classes, seed=None if seed is None else seed + 1)
