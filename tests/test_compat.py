"""Layer-for-layer compatibility with keras.applications: same weights, same outputs."""

import keras
import numpy as np
import pytest

import zoo
from conftest import photos

# zoo name, keras.applications constructor, preprocessing module, input size
ANCHORS = [
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 224),
    ("resnet50", keras.applications.ResNet50, keras.applications.resnet, 160),
    ("vgg16", keras.applications.VGG16, keras.applications.vgg16, 64),
    ("vgg19", keras.applications.VGG19, keras.applications.vgg19, 64),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, anchor, preprocessing, size", ANCHORS)
def test_copied_weights_give_equal_outputs(name, anchor, preprocessing, size):
    reference = anchor(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    model = zoo.build(name, input_shape=(size, size, 3))
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]
    model.set_weights(reference.get_weights())
    batch = preprocessing.preprocess_input(photos(size))
    np.testing.assert_allclose(model(batch), reference(batch), atol=1e-5)
    reference_layers = [layer.name for layer in reference.layers if layer.weights]
    assert [layer.name for layer in model.layers if layer.weights] == reference_layers
