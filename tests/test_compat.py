"""Layer-for-layer compatibility with keras.applications: same weights, same
outputs, and a zoo model fed 0-255 pixels gives what the keras.applications
model gives for `preprocess_input` of them."""

import h5py
import keras
import numpy as np
import pytest
from conftest import photos
from keras.src.legacy.saving import legacy_h5_format

import zoo

# zoo name, keras.applications constructor, preprocessing module, input size
# [, keyword arguments both builders take, e.g. dict(alpha=0.5)]
ANCHORS = [
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 224),
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 160),
    ("resnet101", keras.applications.ResNet101, keras.applications.resnet, 64),
    ("resnet152", keras.applications.ResNet152, keras.applications.resnet, 64),
    ("vgg16", keras.applications.VGG16, keras.applications.vgg16, 64),
    ("vgg19", keras.applications.VGG19, keras.applications.vgg19, 64),
    ("mobilenet", keras.applications.MobileNet, keras.applications.mobilenet, 224),
    ("mobilenet", keras.applications.MobileNet, keras.applications.mobilenet, 97, dict(alpha=0.5)),
    ("mobilenet_v2", keras.applications.MobileNetV2, keras.applications.mobilenet_v2, 96, dict(alpha=1.4)),
    ("mobilenet_v2", keras.applications.MobileNetV2, keras.applications.mobilenet_v2, 113, dict(alpha=0.35)),
    ("efficientnet_b0", keras.applications.EfficientNetB0, keras.applications.efficientnet, 224),
    ("efficientnet_b0", keras.applications.EfficientNetB0, keras.applications.efficientnet, 131),
    ("efficientnet_b3", keras.applications.EfficientNetB3, keras.applications.efficientnet, 96),
]


def _with_kwargs(rows):
    """Rows may end with a dict of keyword arguments; the others get an empty one."""
    return [row if isinstance(row[-1], dict) else (*row, {}) for row in rows]


def bare(model):
    """`model` after its "preprocessing" layer: the graph include_preprocessing=False
    builds (tests/test_registry.py checks that they match), sharing the weights."""
    names = [layer.name for layer in model.layers]
    return keras.Model(model.get_layer("preprocessing").output, model.output) if "preprocessing" in names else model


@pytest.mark.slow
@pytest.mark.parametrize("name, anchor, preprocessing, size, kwargs", _with_kwargs(ANCHORS))
def test_copied_weights_give_equal_outputs(name, anchor, preprocessing, size, kwargs):
    reference = anchor(weights=None, input_shape=(size, size, 3), classifier_activation=None, **kwargs)
    model = zoo.build(name, input_shape=(size, size, 3), **kwargs)
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]
    model.set_weights(reference.get_weights())
    pixels = photos(size)
    expected = reference(preprocessing.preprocess_input(pixels.copy()))  # it may work in place
    # 0-255 pixels in: the normalisation is inside the model.
    np.testing.assert_allclose(model(pixels), expected, atol=1e-5)
    # Without it, the keras.applications input convention.
    np.testing.assert_allclose(bare(model)(preprocessing.preprocess_input(pixels.copy())), expected, atol=1e-5)
    reference_layers = [layer.name for layer in reference.layers if layer.weights]
    assert [layer.name for layer in model.layers if layer.weights] == reference_layers


@pytest.mark.slow
@pytest.mark.parametrize("name, anchor, preprocessing, size", [
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 64),
    ("mobilenet", keras.applications.MobileNet, keras.applications.mobilenet, 128),
])  # vgg16: tests/test_classic.py; mobilenet_v2, efficientnet_b0: tests/test_mobile.py
def test_imagenet_weights_take_raw_pixels(name, anchor, preprocessing, size, tmp_path, monkeypatch):
    """weights='imagenet' (a legacy .h5 as keras publishes, served without network)
    on 0-255 photos gives keras.applications' outputs on preprocess_input(photos)."""
    shape = (size, size, 3)
    reference = anchor(weights=None, input_shape=shape, include_top=False)
    path = tmp_path / "published.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: str(path))
    model = zoo.build(name, weights="imagenet", input_shape=shape, include_top=False)
    pixels = photos(size)
    expected = np.asarray(reference(preprocessing.preprocess_input(pixels.copy())))
    np.testing.assert_allclose(model(pixels), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
