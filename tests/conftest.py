"""Shared fixtures: real photos from scikit-image, quiet TensorFlow, seeded Keras."""

import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from skimage import data as skdata  # noqa: E402
from skimage.transform import resize  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")

# Tests of full-size default builds (zoo.model_info, cached per process): one xdist
# worker runs them all (`--dist loadgroup`), so each model is built once per session.
FULL_SIZE_MODELS = pytest.mark.xdist_group("full_size_models")


def photos(size, channels=3):
    """Real RGB photos from scikit-image, resized to size x size, values 0-255."""
    images = [resize(getattr(skdata, n)(), (size, size), anti_aliasing=True,
                     preserve_range=True) for n in PHOTOS]
    batch = np.stack(images).astype("float32")
    if channels == 1:
        batch = batch.mean(axis=-1, keepdims=True)
    return batch


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    yield
    # No full garbage collection after each test (clear_session's default): with
    # TensorFlow loaded each one walked every live object, 0.5 s idle and up to 15 s
    # late in a CI worker, a third of the suite's time. Python's own collections
    # still free the models' reference cycles.
    keras.backend.clear_session(free_memory=False)


def pytest_collection_finish(session):
    """What is alive once the tests are collected (TensorFlow, Keras, the test
    modules) lives for the whole session: keep it out of every collection."""
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items):
    """Modules with slow tests run first, each module's tests kept together (its
    module-scoped fixtures are built once): with two xdist workers, a long test
    left for the end keeps one worker busy while the other idles."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    first_index = {}
    for index, item in enumerate(items):
        first_index.setdefault(item.module.__name__, index)
    items.sort(key=lambda item: (item.module.__name__ not in slow_modules,
                                 first_index[item.module.__name__]))
