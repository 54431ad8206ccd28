"""Layer-for-layer compatibility with keras.applications: same weights, same outputs."""

import keras
import numpy as np
import pytest
from conftest import photos

import zoo

# zoo name, keras.applications constructor, preprocessing module, input size
# [, keyword arguments both builders take, e.g. dict(alpha=0.5)]
ANCHORS = [
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 224),
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 160),
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


@pytest.mark.slow
@pytest.mark.parametrize("name, anchor, preprocessing, size, kwargs", _with_kwargs(ANCHORS))
def test_copied_weights_give_equal_outputs(name, anchor, preprocessing, size, kwargs):
    reference = anchor(weights=None, input_shape=(size, size, 3), classifier_activation=None, **kwargs)
    model = zoo.build(name, input_shape=(size, size, 3), **kwargs)
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]
    model.set_weights(reference.get_weights())
    batch = preprocessing.preprocess_input(photos(size))
    np.testing.assert_allclose(model(batch), reference(batch), atol=1e-5)
    reference_layers = [layer.name for layer in reference.layers if layer.weights]
    assert [layer.name for layer in model.layers if layer.weights] == reference_layers
