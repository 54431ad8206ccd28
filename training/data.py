"""Datasets as tf.data: digits (embedded default), shapes (synthetic segmentation),
photos (scikit-image's, for style models), a folder of class sub-folders, or any
tfds name; for 1D and 3D models trace (UCR signals), moving_digits (synthetic
clips) and npz:/path (anyone's arrays).

Every source gives unbatched (image, target) splits "train", "validation" and
"test"; images are resized to the model's input and adapted to its channels
(grey <-> RGB), and cached in memory: as uint8 when the source is 8-bit (4x
smaller), float32 in [0, 1] otherwise. Targets are class indices, or per-pixel
class masks for segmentation. `batches` then shuffles and batches them, and
does everything else once per batch: pixels to [0, 1], augmentation, the task's
targets (one-hot), the model's input range. Per-element work is what made the pipeline
slow: one function call per image costs more than the op it runs.

Signals (length, channels) and volumes or clips (depth, height, width,
channels) keep their own shape (`example_shape`): the harness builds the
model for it, and nothing resizes or adapts them. Real-valued arrays are
scaled per channel so that the training split spans [0, 1] (the harness's
pixel convention; the other splits use the same map and may reach slightly
past it); uint8 arrays are pixels, as images are.
"""

import concurrent.futures
import dataclasses
import functools
import importlib.util
import os
import zipfile

import numpy as np
import tensorflow as tf
from absl import logging

from training import tasks
from training.errors import DataError
from zoo.utils import IMAGE_EXTENSIONS

AUTOTUNE = tf.data.AUTOTUNE
SPLITS = ("train", "validation", "test")
EMBEDDED_DATASETS = ("digits", "shapes", "trace", "moving_digits", "photos")
SEGMENTATION_ONLY = ("shapes",)  # embedded datasets with masks and no class labels

# tfds segmentation sets: name -> (mask feature, class names, offset subtracted from mask values)
TFDS_SEGMENTATION = {"oxford_iiit_pet": ("segmentation_mask", ("pet", "background", "border"), 1)}

# shapes: background + one class per shape kind
SHAPE_CLASSES = ("background", "circle", "square")
# Detection: boxes per image kept (padding rows: class -1, box zeros), as COCO's
# evaluation keeps 100 detections per image.
MAX_BOXES = 100
# tfds detection sets (tfds's BBoxFeature: relative (y_min, x_min, y_max, x_max)):
# name -> the objects' feature that marks boxes to leave out (COCO's crowd regions), or None.
TFDS_DETECTION = {"voc": None, "coco": "is_crowd"}
# A user's own COCO-format annotations: --dataset=coco:/path/annotations.json, images beside it.
COCO_PREFIX = "coco:"
SHAPES_SPLIT_SIZES = {"train": 256, "validation": 64, "test": 64}

# moving_digits: clips of (frames, size, size, 1); each axis at least the 3D
# models' minimum of 32. Tests make smaller ones with `moving_digits()`.
MOVING_DIGITS = {"clips": 1200, "frames": 32, "size": 32, "seed": 0}
# The four classes: the directions of the horizontal and the vertical digit.
MOVING_DIRECTIONS = ("left_up", "left_down", "right_up", "right_down")

# photos: scikit-image's bundled photos (in its wheel, no download), split by photo so
# that no test crop comes from a training photo, as random square crops (side a share
# of the photo's shorter side, drawn in [min_side, 1]); grey photos become RGB. The
# content images of the style task (training/tasks/style.py). No textures (brick,
# grass, gravel: style images) and no drawings (text, logo).
PHOTOS = {"train": ("astronaut", "camera", "clock", "coins", "hubble_deep_field",
                    "immunohistochemistry", "moon", "retina"),
          "validation": ("coffee",), "test": ("chelsea", "rocket")}
PHOTO_CROPS = {"train": 16, "validation": 4, "test": 4}  # per photo
PHOTO_MIN_SIDE = 0.4

# UCR Trace (Roverso 2000; 4 classes, 100 + 100 series of length 275) as
# tslearn's wheel ships it: read from the installed package, never downloaded.
TRACE_FILE = ("tslearn", ".cached_datasets/Trace.npz")


@dataclasses.dataclass(frozen=True)
class Data:
    """Prepared, cached, unbatched splits and what the model needs to know about them.

    `cached`: split name -> the cached dataset (uint8 or float32 images), the
    input of `batches`. `splits`: the same with float32 images in [0, 1].
    """

    cached: dict
    class_names: tuple
    task: str  # the task's name
    sizes: dict  # split name -> number of examples

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def splits(self):
        return {s: ds.map(lambda x, y: (to_unit(x), y), num_parallel_calls=AUTOTUNE)
                for s, ds in self.cached.items()}


def load(name, *, image_shape, task="classification", data_dir=None, classes=(), download=True):
    """The three prepared splits of dataset `name` for a model with input `image_shape`
    (and any further split the task's source adds).

    `task`: a task name or a training.tasks.Task; it chooses the dataset's
    sources (class labels or masks).
    `download=False` refuses a tfds dataset that is not prepared in `data_dir`
    at once, instead of letting tfds try to fetch it.
    """
    check_name(name)
    task = tasks.get_task(task)  # the task picks the sources and checks their labels
    raw, class_names = task.load_source(name, image_shape=image_shape, data_dir=data_dir,
                                        classes=classes, download=download)
    prepare = _preparer(image_shape, task)
    # A task's source may add splits of its own (similarity's unseen identities).
    cached = {s: raw[s].map(prepare, num_parallel_calls=AUTOTUNE).cache()
              for s in (*SPLITS, *sorted(set(raw) - set(SPLITS)))}
    sizes = {s: count(ds) for s, ds in cached.items()}  # one pass, which also fills the cache
    empty = [s for s, n in sizes.items() if not n]
    if empty:
        raise DataError(f"--dataset={name!r}: the {' and '.join(empty)} split(s) hold no images "
                        f"({', '.join(f'{s} {n}' for s, n in sizes.items())}); training needs "
                        "at least one image in each of train, validation and test.")
    data = Data(cached=cached, class_names=tuple(class_names), task=task.name, sizes=sizes)
    task.check_data(name, data)
    return data


def check_name(name):
    """Raises DataError unless `name` is a dataset this module can load."""
    if name in EMBEDDED_DATASETS:
        return
    if name.startswith("folder:"):
        if not os.path.isdir(name[len("folder:"):]):
            raise DataError(f"{name!r}: {name[len('folder:'):]!r} is not a directory "
                             "(expected one sub-folder per class).")
        return
    if name.startswith(COCO_PREFIX):
        if not os.path.isfile(name[len(COCO_PREFIX):]):
            raise DataError(f"{name!r}: {name[len(COCO_PREFIX):]!r} is not a file (expected a COCO "
                            "annotations .json with the images it names beside it).")
        return
    if name.startswith("npz:"):
        if not os.path.isfile(name[len("npz:"):]):
            raise DataError(f"{name!r}: {name[len('npz:'):]!r} is not a file (expected an .npz "
                            "with arrays x [N, *spatial, channels] and y [N] of int labels).")
        return
    import tensorflow_datasets as tfds

    try:
        tfds.builder_cls(name.split("/")[0].split(":")[0])
    except Exception:  # tfds raises its own DatasetNotFoundError
        raise DataError(f"{name!r} is not digits, shapes, trace, moving_digits, photos, folder:/path, "
                        "npz:/path, coco:/path/annotations.json or a tfds dataset name (mnist, cifar10, tf_flowers, "
                        "imagenette, oxford_iiit_pet, ...).") from None


def example_shape(name):
    """The shape of one example of dataset `name` when the dataset fixes it (its
    signals or volumes are never resized): (length, C), (H, W, C) or (D, H, W, C).
    None for image sources, which are resized to the model's input."""
    if name == "trace":
        return _trace_arrays()[0].shape[1:]
    if name == "moving_digits":
        return (MOVING_DIGITS["frames"], MOVING_DIGITS["size"], MOVING_DIGITS["size"], 1)
    if name.startswith("npz:"):
        return _npz_arrays(name[len("npz:"):])[0].shape[1:]
    return None


def to_unit(images):
    """Cached images as float32 in [0, 1] (uint8 ones divided by 255)."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return images


def load_dataset(name, *, image_shape, split, batch_size, task="classification", data_dir=None,
                 classes=()):
    """One split, batched as (images, targets), without augmentation.

    For evaluation and export (representative data for quantization, held-out checks).
    """
    data = load(name, image_shape=image_shape, task=task, data_dir=data_dir, classes=classes)
    return batches(data.cached[split], batch_size=batch_size, num_classes=data.num_classes,
                   task=task)


def batches(ds, *, batch_size, num_classes, training=False, seed=None, augmenter=None,
            batch_augmenter=None, deterministic=False, input_range=(0.0, 1.0),
            task="classification"):
    """Batches of (images, targets) from `ds` (uint8 or [0, 1] float images); `task`
    (a name or a Task) makes the targets from the labels (one-hot for both today).

    Training batches are shuffled, augmented and repeat forever: the harness
    keeps one iterator for the whole run and takes an epoch's steps from it,
    because each new iterator re-instantiates the pipeline's functions (tens
    of milliseconds, more than an epoch of LeNet-5 on a small folder). Per
    batch: see `finish_batches`.
    """
    if training:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat()
    return finish_batches(ds.batch(batch_size), num_classes=num_classes, training=training,
                          augmenter=augmenter, batch_augmenter=batch_augmenter,
                          deterministic=deterministic, input_range=input_range, task=task)


def finish_batches(ds, *, num_classes, training=False, augmenter=None, batch_augmenter=None,
                   deterministic=False, input_range=(0.0, 1.0), task="classification"):
    """Batches of (images, labels) (uint8 or [0, 1] float images) made ready for the
    model, once per batch: pixels to [0, 1], augmentation (training), the task's
    targets, pixels to the model's `input_range`; prefetched."""
    low, high = input_range
    task = tasks.get_task(task)

    def finish(images, labels):
        images = to_unit(images)
        if training and augmenter is not None:  # vectorised, one transform per image
            images, labels = task.augment(augmenter, images, labels)  # boxes move with pixels
        targets = task.targets(labels, num_classes)
        if training and batch_augmenter is not None:
            images, targets = batch_augmenter(images, targets)
        if (low, high) != (0.0, 1.0):
            images = images * (high - low) + low
        return images, targets

    stateful = training and (augmenter is not None or batch_augmenter is not None)
    # Augmenters draw from a random state: one call at a time when it must repeat.
    ds = ds.map(finish, num_parallel_calls=1 if deterministic and stateful else AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def count(ds):
    """Number of elements, counted when tf.data does not know it."""
    n = int(ds.cardinality())
    return n if n >= 0 else int(ds.reduce(0, lambda total, _: total + 1))


def arrays(name, *, image_shape, split, value_range=(0.0, 1.0), task="classification",
           limit=2048):
    """(images, targets, class names) of `split` ("train", "validation", "test") of
    dataset `name` as numpy, with the harness's sources and fixed splits, images in
    `value_range`: what to hand export for int8 calibration and parity."""
    source = load(name, image_shape=image_shape, task=task)
    if not source.sizes[split]:
        raise DataError(f"Dataset {name!r} has no {split} examples.")
    return (*split_arrays(source.cached[split], value_range=value_range, limit=limit),
            list(source.class_names))


def split_arrays(ds, *, value_range=(0.0, 1.0), limit=2048):
    """(images, labels) of the first `limit` examples of a cached or float split
    `ds` as numpy, images in `value_range`; dict labels (boxes and classes) as a
    dict of stacked arrays."""
    pairs = list(ds.take(limit).map(lambda x, y: (to_unit(x), y)).as_numpy_iterator())
    low, high = value_range
    images = np.stack([image for image, _ in pairs]) * (high - low) + low
    return images, tf.nest.map_structure(lambda *targets: np.stack(targets), *[y for _, y in pairs])


def sample_images(ds, limit=2000):
    """Up to `limit` images of `ds` (cached or float) as one float32 array in [0, 1]
    (for PCA colour statistics)."""
    return np.stack(list(ds.take(limit).map(lambda x, _: to_unit(x)).as_numpy_iterator()))


# --- preparation --------------------------------------------------------------

def _preparer(image_shape, task):
    """Resizes and adapts each image; the task fits its label (a mask follows the image).
    Signals and volumes pass as they are (the model was built for their shape)."""
    if len(image_shape) != 3:
        return lambda x, y: (tf.ensure_shape(x, image_shape), task.prepare_label(y, image_shape))
    height, width, channels = image_shape

    def prepare(image, target):
        dtype = image.dtype
        image = tf.image.convert_image_dtype(image, tf.float32)  # uint8 -> [0, 1]
        image = _adapt_channels(image, channels)
        image = tf.image.resize(image, (height, width), antialias=True)
        image = tf.clip_by_value(image, 0.0, 1.0)
        if dtype == tf.uint8:  # cached as such
            image = tf.cast(tf.round(image * 255.0), tf.uint8)
        return image, task.prepare_label(target, image_shape)

    return prepare


def _adapt_channels(image, channels):
    have = image.shape[-1]
    if have == channels:
        return image
    if have in (2, 4):  # drop alpha
        image, have = image[..., :have - 1], have - 1
    if have == 1 and channels == 3:
        return tf.image.grayscale_to_rgb(image)
    if have == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(image)
    if have == channels:
        return image
    raise DataError(f"Cannot adapt {have}-channel images to a {channels}-channel model input.")


def keep_classes(ds, classes, num_classes):
    """Keeps the listed class indices, relabelled 0..k-1 in the order given."""
    classes = [int(c) for c in classes]
    bad = [c for c in classes if c >= num_classes]
    if bad:
        raise DataError(f"--classes {bad} out of range: the dataset has {num_classes} classes.")
    table = np.full(num_classes, -1, np.int32)
    table[classes] = np.arange(len(classes))
    table = tf.constant(table)
    ds = ds.filter(lambda x, y: tf.gather(table, tf.cast(y, tf.int32)) >= 0)
    return ds.map(lambda x, y: (x, tf.gather(table, tf.cast(y, tf.int32))))


# --- classification sources ----------------------------------------------------

def classification_source(name, data_dir, download):
    if name == "digits":
        return _digits()
    if name.startswith("folder:"):
        return _folder(name[len("folder:"):])
    if name.startswith("npz:"):
        return _npz(name[len("npz:"):])
    if name == "trace":
        return _trace()
    if name == "moving_digits":
        return _moving_digits()
    if name == "photos":
        raise DataError("--dataset=photos holds unlabelled photos, the content images of style "
                        "models (--model=style_net); a classifier needs labels (e.g. digits, "
                        "folder:/path).")
    if name == "shapes":
        raise DataError("--dataset=shapes has masks and boxes, no image labels; use a "
                        "segmentation or detection model (e.g. --model=unet, --model=yolo).")
    splits, builder = _tfds(name, data_dir, target="label", download=download)
    if not hasattr(builder.info.features["label"], "names"):  # a Text label: lfw's people
        return _named_identities(name, builder)
    return splits, tuple(builder.info.features["label"].names)


# Every split must hold at least one image of each class: a class needs this many.
MIN_PER_CLASS = len(SPLITS)


def _split_indices(labels, fractions=(0.7, 0.15, 0.15), seed=0, class_names=None):
    """A fixed stratified split: per class, shuffled with `seed`, cut by `fractions`,
    with at least one image of each class in every split (tiny folders would
    otherwise round their validation and test splits to nothing); a zero
    fraction makes an empty split."""
    rng = np.random.default_rng(seed)
    parts = {s: [] for s in SPLITS}
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        if len(index) < MIN_PER_CLASS:
            shown = class_names[label] if class_names else label
            raise DataError(f"class {shown!r} has {len(index)} image(s); each class needs at "
                            f"least {MIN_PER_CLASS} (one each for training, validation and test).")
        n_val = max(1, int(round(fractions[1] * len(index))))
        n_test = max(1, int(round(fractions[2] * len(index)))) if fractions[2] else 0
        n_train = len(index) - n_val - n_test
        parts["train"].append(index[:n_train])
        parts["validation"].append(index[n_train:n_train + n_val])
        parts["test"].append(index[n_train + n_val:])
    return {s: np.sort(np.concatenate(p)) for s, p in parts.items()}


def _digits():
    """scikit-learn's 1,797 real 8x8 handwritten digits (values 0-16), split 70/15/15."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    parts = _split_indices(labels)
    return {s: tf.data.Dataset.from_tensor_slices((images[i], labels[i]))
            for s, i in parts.items()}, tuple(str(d) for d in digits.target_names)


def _splits(x, y, parts, class_names):
    """tf.data splits of arrays `x`, `y` at the `parts` indices. Real values are
    scaled per channel so that the training split spans [0, 1]; uint8 are pixels."""
    if x.dtype != np.uint8:
        train = x[parts["train"]].astype("float64")
        axes = tuple(range(x.ndim - 1))
        low, high = train.min(axis=axes), train.max(axis=axes)
        x = ((x - low) / np.where(high > low, high - low, 1.0)).astype("float32")
    return ({s: tf.data.Dataset.from_tensor_slices((x[i], y[i])) for s, i in parts.items()},
            tuple(class_names))


def _npz_arrays(path):
    stat = os.stat(path)
    return _read_npz(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)  # read once for its shape, once more for its data
def _read_npz(path, mtime, size):
    """(x, y, class names) of an npz file, checked. Labels are the sorted distinct
    values of y, or indices into an optional `class_names` array."""
    where = f"--dataset=npz:{path}"
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{where}: not a readable .npz file ({type(error).__name__}: {error}).") \
            from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"{where}: no array {' or '.join(map(repr, missing))} (it holds "
                        f"{', '.join(arrays) or 'nothing'}); expected x [N, *spatial, channels] "
                        "and y [N] int labels (np.savez(path, x=x, y=y)).")
    x, y = arrays["x"], arrays["y"]
    if not 3 <= x.ndim <= 5 or x.dtype.kind not in "uif":
        raise DataError(f"{where}: x is {x.dtype} of shape {x.shape}; expected numbers of shape "
                        "[N, length, channels], [N, height, width, channels] or [N, depth, "
                        "height, width, channels] (one channel still needs its axis of 1).")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{where}: x holds {np.size(x) - np.isfinite(x).sum()} NaN or infinite "
                        "value(s).")
    if y.shape != (len(x),) or y.dtype.kind not in "ui":
        raise DataError(f"{where}: y is {y.dtype} of shape {y.shape}; expected one int class "
                        f"label per example of x, shape ({len(x)},).")
    if "class_names" in arrays:
        names = tuple(str(n) for n in arrays["class_names"])
        bad = sorted(set(y[(y < 0) | (y >= len(names))].tolist()))
        if bad:
            raise DataError(f"{where}: labels {bad[:10]} are not indices into its {len(names)} "
                            "class_names.")
    else:
        values, y = np.unique(y, return_inverse=True)
        names = tuple(str(v) for v in values)
    return x, y.astype("int32"), names


def _npz(path):
    """Arrays x [N, *spatial, C] and y [N] from an .npz file, split 70/15/15."""
    x, y, names = _npz_arrays(path)
    try:
        parts = _split_indices(y, class_names=names)
    except DataError as error:
        raise DataError(f"--dataset=npz:{path}: {error}") from None
    return _splits(x, y, parts, names)


@functools.lru_cache(maxsize=1)
def _trace_arrays():
    """UCR Trace's series (train then test), labels 0-3, and the size of its train split."""
    package, file = TRACE_FILE
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None:
        raise DataError(f"--dataset=trace reads UCR Trace from the {package} package's wheel, "
                        f"which is not installed: pip install {package} (or zoo[test]); nothing "
                        "is downloaded at run time.")
    with np.load(os.path.join(spec.submodule_search_locations[0], file)) as f:
        x = np.concatenate([f["X_train"], f["X_test"]]).astype("float32")
        y = np.concatenate([f["y_train"], f["y_test"]]).astype("int32") - 1  # UCR labels 1-4
        return x, y, len(f["X_train"])


def _trace():
    """UCR Trace: its own test split as test (published results compare on it), and
    a fixed stratified 15% of its training split as validation."""
    x, y, n_train = _trace_arrays()
    parts = _split_indices(y[:n_train], fractions=(0.85, 0.15, 0.0))
    parts["test"] = np.arange(n_train, len(y))
    return _splits(x, y, parts, ("1", "2", "3", "4"))


def moving_digits(clips, frames=32, size=32, seed=0):
    """Synthetic clips that need the time axis: (uint8 clips [N, frames, size,
    size, 1], labels [N] indexing MOVING_DIRECTIONS), the same for the same arguments.

    Two scikit-learn digits cross each clip, one horizontally and one
    vertically; the class is which way each goes (left or right, up or down).
    The average of a clip's frames is two trails, one along each axis, however
    the digits move (a trail and its reverse are equally likely), so averaging
    the frames loses the class; a single digit would not do: its trail shows
    the axis it moves along.
    """
    from sklearn.datasets import load_digits

    if frames < 2 or size < 12:
        raise ValueError(f"moving_digits needs frames >= 2 and size >= 12; got frames={frames}, "
                         f"size={size}.")
    digits = load_digits().images / 16.0  # 8 x 8, values 0-16
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(clips) % len(MOVING_DIRECTIONS))
    room = size - 8
    time = np.linspace(0.0, 1.0, frames)
    out = np.zeros((clips, frames, size, size), "float32")
    for clip, label in enumerate(labels):
        for along_width, forward in ((True, label >= 2), (False, label % 2 == 1)):  # right, down
            digit = digits[rng.integers(len(digits))]
            distance = rng.uniform(room / 2, room)
            start = rng.uniform(0, room - distance)
            path = np.rint(start + distance * (time if forward else 1 - time)).astype(int)
            across = rng.integers(0, room + 1)
            for frame, at in enumerate(path):
                row, col = (across, at) if along_width else (at, across)
                window = out[clip, frame, row:row + 8, col:col + 8]
                np.maximum(window, digit, out=window)
    return np.rint(out * 255).astype("uint8")[..., None], labels.astype("int32")


def photo_crops(names, crops, seed=0, min_side=PHOTO_MIN_SIDE):
    """Random square crops (uint8 RGB, sizes differ) of scikit-image's bundled photos
    `names`, `crops` of each: side in [min_side, 1] of the shorter side, anywhere."""
    from skimage import data as skimage_data

    rng = np.random.default_rng(seed)
    for name in names:
        photo = getattr(skimage_data, name)()
        photo = np.repeat(photo[..., None], 3, -1) if photo.ndim == 2 else photo[..., :3]
        height, width = photo.shape[:2]
        for _ in range(crops):
            side = int(rng.uniform(min_side, 1.0) * min(height, width))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            yield photo[top:top + side, left:left + side]


def photos_source():
    """The `photos` splits: (crop, 0) examples; one class, "photo" (the labels are unused)."""
    signature = (tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int32))

    def split(name, index):
        def examples():
            for crop in photo_crops(PHOTOS[name], PHOTO_CROPS[name], seed=index):
                yield crop, 0
        return tf.data.Dataset.from_generator(examples, output_signature=signature)

    return {name: split(name, index) for index, name in enumerate(SPLITS)}, ("photo",)


def _moving_digits():
    x, y = moving_digits(**MOVING_DIGITS)
    return _splits(x, y, _split_indices(y), MOVING_DIRECTIONS)


def _decodes(path):
    """True if TensorFlow can read and decode the image file at `path`."""
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return True
    except (tf.errors.OpError, ValueError):
        return False


def _readable_images(root, paths, labels):
    """(files, labels) arrays of the `paths` that are image files TensorFlow can
    decode; the others are counted, logged and skipped."""
    images = [(p, y) for p, y in zip(paths, labels) if p.lower().endswith(IMAGE_EXTENSIONS)]
    other = [p for p in paths if not p.lower().endswith(IMAGE_EXTENSIONS)]
    if other:
        logging.warning("folder:%s: skipped %d file(s) that are not %s images, e.g. %s",
                        root, len(other), "/".join(IMAGE_EXTENSIONS), other[:3])
    with concurrent.futures.ThreadPoolExecutor() as pool:
        readable = list(pool.map(_decodes, [p for p, _ in images]))
    corrupt = [p for (p, _), ok in zip(images, readable) if not ok]
    if corrupt:
        logging.warning("folder:%s: skipped %d of %d image(s) that could not be read or "
                        "decoded: %s", root, len(corrupt), len(images), corrupt[:10])
    kept = [image for image, ok in zip(images, readable) if ok]
    return (np.array([p for p, _ in kept]), np.array([y for _, y in kept], dtype="int32"))


def _read_image(path, label):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.ensure_shape(image, (None, None, 3)), label


def _folder(root):
    """Images in one sub-folder per class; unreadable files are counted, logged and skipped."""
    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not class_names:
        raise DataError(f"--dataset=folder:{root}: no class sub-folders found.")
    paths, labels = [], []
    for label, class_name in enumerate(class_names):
        for entry in sorted(os.scandir(os.path.join(root, class_name)), key=lambda e: e.name):
            if entry.is_file():
                paths.append(entry.path)
                labels.append(label)
    files, labels = _readable_images(root, paths, labels)
    empty = [c for i, c in enumerate(class_names) if not np.any(labels == i)]
    if empty:
        logging.warning("folder:%s: left out %d class folder(s) with no readable images: %s",
                        root, len(empty), ", ".join(empty))
        kept = [i for i, c in enumerate(class_names) if c not in empty]
        relabel = np.full(len(class_names), -1, "int32")
        relabel[kept] = np.arange(len(kept))
        labels, class_names = relabel[labels], [class_names[i] for i in kept]
    if len(class_names) < 2:
        raise DataError(f"--dataset=folder:{root}: found {len(class_names)} class folder(s) with "
                        f"readable images ({', '.join(class_names) or 'none'}); a classifier "
                        "needs at least 2, one sub-folder of images per class.")
    logging.info("folder:%s: %d images in %d classes (%s)", root, len(files), len(class_names),
                 ", ".join(class_names))
    return _file_splits(root, files, labels, class_names)


def _file_splits(root, files, labels, class_names):
    """The 80/10/10 splits of image `files` (paths) with their `labels`, read lazily."""
    try:
        parts = _split_indices(labels, fractions=(0.8, 0.1, 0.1), class_names=class_names)
    except DataError as error:
        raise DataError(f"--dataset=folder:{root}: {error}") from None
    return {s: tf.data.Dataset.from_tensor_slices((files[i], labels[i]))
            .map(_read_image, num_parallel_calls=AUTOTUNE) for s, i in parts.items()}, tuple(class_names)


def unlabelled_folder_source(root):
    """Every image under `root`, in it or in any sub-folder, as one class "image"
    (for models that ignore labels: a style net's content photos), split 80/10/10."""
    if not os.path.isdir(root):
        raise DataError(f"--dataset=folder:{root}: {root!r} is not a directory.")
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)
    files, labels = _readable_images(root, paths, [0] * len(paths))
    logging.info("folder:%s: %d images (labels unused)", root, len(files))
    return _file_splits(root, files, labels, ("image",))


def _tfds_splits(builder):
    """tfds split names for train / validation / test, carving missing ones out of train."""
    known = set(builder.info.splits) or {"train", "test"}  # unknown when not prepared (mocks)
    if "validation" in known and "test" in known:
        return {"train": "train", "validation": "validation", "test": "test"}
    if "test" in known or "validation" in known:
        held_out = "test" if "test" in known else "validation"
        return {"train": "train[:90%]", "validation": "train[90%:]", "test": held_out}
    return {"train": "train[:80%]", "validation": "train[80%:90%]", "test": "train[90%:]"}


def _tfds(name, data_dir, target, download=True):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    tfds_splits = _tfds_splits(builder)
    try:
        raw = {s: builder.as_dataset(split=t, shuffle_files=False) for s, t in tfds_splits.items()}
    except AssertionError:  # tfds's word for "not prepared in data_dir"
        if not download:
            raise DataError(_not_prepared(name, builder.data_dir, "--nodownload")) from None
        try:
            builder.download_and_prepare()
        except ImportError:
            raise  # a broken install, not a missing dataset: keep the traceback
        except Exception as error:  # offline: requests, tfds and OS errors alike
            raise DataError(_not_prepared(
                name, builder.data_dir, f"the download failed: {type(error).__name__}")) from error
        raw = {s: builder.as_dataset(split=t, shuffle_files=False) for s, t in tfds_splits.items()}
    splits = {s: ds.map(lambda e: (e["image"], e[target]), num_parallel_calls=AUTOTUNE)
              for s, ds in raw.items()}
    return splits, builder


def _named_identities(name, builder):
    """The splits and class names of a tfds set labelled by a name (a Text feature, not
    a ClassLabel: lfw's people). Each name with at least MIN_PER_CLASS images becomes a
    class (sorted by name; the others are dropped), and its images are split 70/15/15
    as a folder's are (every identity in every split). The labels are read first with
    the images still encoded, and only the kept images are decoded."""
    import tensorflow_datasets as tfds

    split = "+".join(sorted(builder.info.splits)) or "train"
    image_feature = builder.info.features["image"]

    def encoded():  # the same order on every read: files in order, not shuffled
        return builder.as_dataset(split=split, shuffle_files=False,
                                  decoders={"image": tfds.decode.SkipDecoding()})

    names = np.array([n.decode() for n in encoded().map(lambda e: e["label"]).as_numpy_iterator()])
    people, person, counts = np.unique(names, return_inverse=True, return_counts=True)
    kept = counts >= MIN_PER_CLASS
    if kept.sum() < 2:
        raise DataError(f"--dataset={name!r}: {int(kept.sum())} of its {len(people)} names have "
                        f"{MIN_PER_CLASS} images or more (one each for training, validation and "
                        "test); at least 2 must.")
    identity = np.where(kept, np.cumsum(kept) - 1, -1)[person]  # per example; -1: dropped
    rows = np.flatnonzero(identity >= 0)
    split_of = np.full(len(names), -1)
    parts = _split_indices(identity[rows])
    for k, s in enumerate(SPLITS):
        split_of[rows[parts[s]]] = k
    split_of, identity = tf.constant(split_of), tf.constant(identity, tf.int32)

    def part(k):
        return (encoded().enumerate().filter(lambda i, e: tf.gather(split_of, i) == k)
                .map(lambda i, e: (image_feature.decode_example(e["image"]), tf.gather(identity, i)),
                     num_parallel_calls=AUTOTUNE))

    return {s: part(k) for k, s in enumerate(SPLITS)}, tuple(str(p) for p in people[kept])


def _not_prepared(name, data_dir, why):
    return (f"tfds dataset {name!r} is not prepared in {data_dir} ({why}). Prepare it where the "
            f"network allows (`tfds build {name.split(':')[0]} --data_dir=DIR`), copy DIR here "
            "and pass --data_dir=DIR.")


# --- segmentation sources ------------------------------------------------------

def segmentation_source(name, image_shape, data_dir, download):
    if name == "shapes":
        return {s: _shapes(n, image_shape[:2], seed=i)
                for i, (s, n) in enumerate(SHAPES_SPLIT_SIZES.items())}, SHAPE_CLASSES
    base = name.split("/")[0].split(":")[0]
    if base not in TFDS_SEGMENTATION:
        raise DataError(f"--dataset={name!r} has no segmentation masks; segmentation models "
                         f"train on shapes or {', '.join(TFDS_SEGMENTATION)}.")
    key, class_names, offset = TFDS_SEGMENTATION[base]
    splits, _ = _tfds(name, data_dir, target=key, download=download)
    splits = {s: d.map(lambda x, m: (x, tf.clip_by_value(tf.cast(m[..., 0], tf.int32) - offset,
                                                         0, len(class_names) - 1)))
              for s, d in splits.items()}
    return splits, class_names


def shape_scenes(n, size, seed, *, separate=False, shapes=(1, 3)):
    """Synthetic scenes of circles and squares of random colours on a noisy background,
    the same for the same arguments: (images float32 [n, H, W, 3] in [0, 1], masks
    int32 [n, H, W] of SHAPE_CLASSES indices, objects), where `objects[i]` lists
    image i's visible shapes as (class, (x_min, y_min, x_max, y_max)) with the box
    taken from the shape's own pixels in the mask (x_max, y_max one past the last
    pixel, as COCO's boxes; a shape later ones hide entirely is left out).

    Each image holds `shapes` = (fewest, most) shapes, 1 to 3 by default
    (localisation draws 0 or 1), painted in order (later ones cover earlier
    ones). `separate=True` (detection's data) places each shape where it does
    not overlap the earlier ones, skipping a shape for which 20 random places
    all overlap; the default draws the segmentation set as it always has.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    yy, xx = np.mgrid[:height, :width]
    images = rng.uniform(0.0, 0.3, (n, height, width, 3)).astype("float32")
    masks = np.zeros((n, height, width), "int32")
    objects = []
    for i in range(n):
        instances = np.zeros((height, width), "int32")  # 1 + the shape's index, 0: background
        kinds = []
        for _ in range(rng.integers(shapes[0], shapes[1] + 1)):
            kind = rng.integers(1, len(SHAPE_CLASSES))
            r = rng.uniform(0.1, 0.25) * min(height, width)
            for _attempt in range(20 if separate else 1):
                cy, cx = rng.uniform(r, height - r), rng.uniform(r, width - r)
                if kind == 1:
                    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                else:
                    inside = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
                if not (separate and instances[inside].any()):
                    break
            else:
                continue  # no free place for it
            images[i][inside] = rng.uniform(0.4, 1.0, 3)
            masks[i][inside] = kind
            kinds.append(int(kind))
            instances[inside] = len(kinds)
        scene = []
        for index, kind in enumerate(kinds, start=1):
            rows, cols = np.nonzero(instances == index)
            if len(rows):
                scene.append((kind, (int(cols.min()), int(rows.min()), int(cols.max()) + 1,
                                     int(rows.max()) + 1)))
        objects.append(scene)
    return images, masks, objects


def _shapes(n, size, seed):
    """Synthetic segmentation: `shape_scenes`'s images and masks."""
    images, masks, _ = shape_scenes(n, size, seed)
    return tf.data.Dataset.from_tensor_slices((images, masks))


# --- detection sources ------------------------------------------------------------
# Labels: {"boxes": [n, 4] float32 relative (x_min, y_min, x_max, y_max), "classes": [n]
# int32}; the detection task pads them to MAX_BOXES rows.

def detection_source(name, image_shape, data_dir, download, *, shapes=(1, 3)):
    """(splits of (image, boxes and classes), class names) of a detection dataset;
    `shapes`: how many shapes the shapes scenes hold, (fewest, most)."""
    if name == "shapes":
        return {s: _shape_boxes(n, image_shape[:2], seed=i, shapes=shapes)
                for i, (s, n) in enumerate(SHAPES_SPLIT_SIZES.items())}, SHAPE_CLASSES[1:]
    if name.startswith(COCO_PREFIX):
        return _coco_file(name[len(COCO_PREFIX):])
    base = name.split("/")[0].split(":")[0]
    if base not in TFDS_DETECTION:
        raise DataError(f"--dataset={name!r} has no boxes; detection trains on shapes, "
                        f"{COCO_PREFIX}/path/annotations.json or the tfds sets "
                        f"{', '.join(TFDS_DETECTION)} (e.g. voc/2007, coco/2017).")
    splits, builder = _tfds(name, data_dir, target="objects", download=download)
    crowd = TFDS_DETECTION[base]

    def boxes(image, objects):
        keep = tf.ones_like(objects["label"], tf.bool) if crowd is None else \
            tf.logical_not(tf.cast(objects[crowd], tf.bool))
        yxyx = tf.boolean_mask(tf.cast(objects["bbox"], tf.float32), keep)
        return image, {"boxes": tf.gather(yxyx, [1, 0, 3, 2], axis=1),
                       "classes": tf.cast(tf.boolean_mask(objects["label"], keep), tf.int32)}

    return ({s: d.map(boxes, num_parallel_calls=AUTOTUNE) for s, d in splits.items()},
            tuple(builder.info.features["objects"]["label"].names))


def _shape_boxes(n, size, seed, shapes):
    """`shape_scenes` with separate shapes, their boxes relative, padded to the most."""
    images, _, objects = shape_scenes(n, size, seed, separate=True, shapes=shapes)
    height, width = size
    boxes = np.zeros((n, max(shapes[1], 1), 4), "float32")
    classes = np.full((n, max(shapes[1], 1)), -1, "int32")
    for i, scene in enumerate(objects):
        for j, (kind, box) in enumerate(scene):
            boxes[i, j] = np.divide(box, (width, height, width, height))
            classes[i, j] = kind - 1  # SHAPE_CLASSES without the background
    return tf.data.Dataset.from_tensor_slices((images, {"boxes": boxes, "classes": classes}))


def _coco_file(path):
    """A COCO-format annotations file (its "images", "annotations" and "categories"),
    the images at their file_name beside it; split 80/10/10 by image with a fixed seed.
    Classes are the categories in id order; crowd regions are left out."""
    import json

    where = f"--dataset={COCO_PREFIX}{path}"
    try:
        with open(path) as f:
            coco = json.load(f)
        images = {int(im["id"]): im for im in coco["images"]}
        categories = sorted(coco["categories"], key=lambda c: c["id"])
        annotations = coco.get("annotations", [])
        index = {int(c["id"]): k for k, c in enumerate(categories)}
        names = tuple(str(c["name"]) for c in categories)
        objects = {i: ([], []) for i in images}
        for a in annotations:
            if a.get("iscrowd", 0):
                continue
            image = images[int(a["image_id"])]
            x, y, w, h = (float(v) for v in a["bbox"])
            size = (float(image["width"]), float(image["height"])) * 2
            objects[int(a["image_id"])][0].append(np.divide((x, y, x + w, y + h), size))
            objects[int(a["image_id"])][1].append(index[int(a["category_id"])])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{where}: not a readable COCO annotations file ({type(error).__name__}: "
                        f"{error}); expected JSON with images (id, file_name, width, height), "
                        "annotations (image_id, category_id, bbox [x, y, width, height] pixels) "
                        "and categories (id, name).") from None
    root = os.path.dirname(os.path.abspath(path))
    ids = sorted(images)
    missing = [images[i]["file_name"] for i in ids
               if not os.path.isfile(os.path.join(root, images[i]["file_name"]))]
    if missing:
        raise DataError(f"{where}: {len(missing)} image file(s) named in it are not beside it in "
                        f"{root}, e.g. {missing[:3]}.")
    if len(ids) < len(SPLITS):
        raise DataError(f"{where}: {len(ids)} image(s); training needs at least one each for "
                        "training, validation and test.")
    order = np.random.default_rng(0).permutation(len(ids))
    n_val = n_test = max(1, int(round(0.1 * len(ids))))
    parts = {"train": order[n_val + n_test:], "validation": order[:n_val],
             "test": order[n_val:n_val + n_test]}

    def read(file_name, boxes, classes):
        image = tf.io.decode_image(tf.io.read_file(file_name), channels=3, expand_animations=False)
        return tf.ensure_shape(image, (None, None, 3)), {"boxes": boxes, "classes": classes}

    def split(chosen):
        chosen = [ids[k] for k in sorted(chosen)]
        files = [os.path.join(root, images[i]["file_name"]) for i in chosen]
        boxes = tf.ragged.constant([np.reshape(objects[i][0], (-1, 4)).tolist() for i in chosen],
                                   dtype=tf.float32, ragged_rank=1, inner_shape=(4,))
        classes = tf.ragged.constant([objects[i][1] for i in chosen], dtype=tf.int32)
        return tf.data.Dataset.from_tensor_slices((files, boxes, classes)).map(
            read, num_parallel_calls=AUTOTUNE)

    return {s: split(chosen) for s, chosen in parts.items()}, names
