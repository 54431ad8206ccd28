"""keras.applications' own argument tests (keras/src/applications/applications_test.py),
run on the zoo twins: one model per family builder, since the other variants of
a family differ only by their config row."""

import keras
import numpy as np
import pytest

import zoo

TWINS = ["vgg16", "resnet50", "mobilenet", "mobilenet_v2", "efficientnet_b0"]
# Every model with a classifier top that pools globally (no flattening head).
FREE_SIZE = [n for n in zoo.list_models() if zoo.get_entry(n).features is not None
             and n not in ("lenet5",)]


def last_dim(name):
    return zoo.get_entry(name).features[-1][1]


@pytest.mark.parametrize("name", TWINS)
@pytest.mark.parametrize("channels", [1, 4])
def test_notop_variable_input_channels(name, channels):
    model = zoo.build(name, include_top=False, input_shape=(None, None, channels))
    assert list(model.outputs[0].shape) == [None, None, None, last_dim(name)]


@pytest.mark.parametrize("name", TWINS)
def test_notop_custom_input_shape(name):
    model = zoo.build(name, include_top=False, input_shape=(123, 123, 3))
    assert model.outputs[0].shape[-1] == last_dim(name)
    assert np.isfinite(model(np.full((1, 123, 123, 3), 128.0, "float32"))).all()


@pytest.mark.parametrize("name", TWINS)
def test_notop_custom_input_tensor(name):
    inputs = keras.Input(shape=(200, 200, 4), name="custom_input")
    x = keras.layers.Conv2D(3, 2, padding="valid", strides=2)(inputs)
    model = zoo.build(name, include_top=False, input_tensor=x)
    assert model.inputs[0] is inputs  # composed on top of the caller's graph
    assert model.outputs[0].shape[-1] == last_dim(name)
    assert model(np.zeros((1, 200, 200, 4), "float32")).shape[-1] == last_dim(name)


@pytest.mark.parametrize("name", TWINS)
def test_pooling_max(name):
    model = zoo.build(name, include_top=False, pooling="max")
    assert list(model.outputs[0].shape) == [None, last_dim(name)]


@pytest.mark.parametrize("name", TWINS)
def test_classifier_activation(name):
    model = zoo.build(name, classifier_activation="softmax")
    assert model.layers[-1].activation.__name__ == "softmax"


@pytest.mark.parametrize("name", TWINS)
def test_classes_alias_and_default_input_shape(name):
    model = zoo.build(name, classes=7, input_shape=None)
    assert model.input_shape[1:] == zoo.get_entry(name).input_shape
    assert model.output_shape == (None, 7)


def test_classes_and_num_classes_together_are_refused():
    with pytest.raises(TypeError, match="num_classes or its keras.applications alias classes"):
        zoo.build("resnet18", classes=3, num_classes=4)


@pytest.mark.slow
@pytest.mark.parametrize("name", FREE_SIZE)
def test_any_input_size_without_a_flattening_head(name):
    """Fully convolutional forms take any size: the maps are the input over their strides."""
    model = zoo.build(name, input_shape=(None, None, 3), features_only=True)
    height, width = 96, 128
    maps = model(np.full((1, height, width, 3), 100.0, "float32"))
    for (stride, channels), feature in zip(zoo.get_entry(name).features, maps):
        if zoo.get_entry(name).paper.startswith("Krizhevsky"):  # AlexNet pads 'valid'
            assert feature.shape[-1] == channels
        else:
            assert feature.shape[1:] == (-(-height // stride), -(-width // stride), channels)


@pytest.mark.parametrize("name, args", [("vgg16", {}), ("alexnet", {}), ("lenet5", {}),
                                        ("googlenet", {"aux_logits": True})])
def test_a_flattening_head_needs_a_fixed_size(name, args):
    with pytest.raises(ValueError, match=rf"{name} with .* needs a fixed input height and width"):
        zoo.build(name, input_shape=(None, None, 3), **args)


def test_input_shape_must_match_input_tensor():
    with pytest.raises(ValueError, match=r"does not match the shape of input_tensor, \(64, 64, 3\)"):
        zoo.build("resnet18", input_shape=(32, 32, 3), input_tensor=keras.Input((64, 64, 3)))


@pytest.mark.parametrize("shape", [(0, 32, 3), (32, 32, None), (32, 32), "32x32"])
def test_impossible_input_shapes_are_refused(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        zoo.build("resnet18", input_shape=shape)


def test_unet_takes_any_size_and_an_input_tensor():
    model = zoo.build("unet", input_shape=(None, None, 1), base_filters=4, depth=2)
    assert model(np.zeros((1, 24, 40, 1), "float32")).shape == (1, 24, 40, 2)
    inputs = keras.Input((64, 64, 3))
    model = zoo.build("unet", input_tensor=inputs, encoder="resnet18", base_filters=4)
    assert model.inputs[0] is inputs and model.output_shape == (None, 64, 64, 2)
