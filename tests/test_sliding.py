"""zoo.convolutionalize: the convolutional implementation of sliding windows,
checked window by window against the classifier on each crop (LeNet-5, valid
convolutions) and against the Dense head on each window of the feature map
(VGG, same padding)."""

import keras
import numpy as np
import pytest
from conftest import photos

import zoo


def test_lenet5_map_equals_the_classifier_on_every_crop():
    model = zoo.build("lenet5", dropout=0.3)  # dropout layers in the head carry over (inference: identity)
    sliding = zoo.convolutionalize(model)
    assert [layer.name for layer in sliding.layers][-3:] == ["f6_conv", "f6_dropout", "predictions_conv"]
    assert sliding.count_params() == model.count_params()
    images = photos(64, 1)[:, :45, :38]  # not a whole number of strides past 32
    scores = sliding(images).numpy()
    stride = 4  # LeNet-5's two 2 x 2 subsampling layers
    assert scores.shape == (len(images), (45 - 32) // stride + 1, (38 - 32) // stride + 1, 10)
    for row in range(scores.shape[1]):
        for column in range(scores.shape[2]):
            crop = images[:, stride * row:stride * row + 32, stride * column:stride * column + 32]
            np.testing.assert_allclose(scores[:, row, column], model(crop).numpy(), rtol=0, atol=1e-6)


def test_same_padding_map_is_the_dense_head_on_each_feature_window():
    model = zoo.build("vgg11", input_shape=(64, 64, 3), num_classes=5)
    sliding = zoo.convolutionalize(model)
    assert sliding.get_layer("fc1_conv").kernel_size == (2, 2)  # the 2 x 2 map a 64 x 64 input flattens
    assert sliding.get_layer("fc2_conv").kernel_size == sliding.get_layer("predictions_conv").kernel_size == (1, 1)
    assert sliding.count_params() == model.count_params()
    images = photos(128)[:, :, :96]
    scores = sliding(images).numpy()
    assert scores.shape == (4, 128 // 32 - 1, 96 // 32 - 1, 5)
    features = keras.Model(sliding.input, sliding.get_layer("block5_pool").output)(images).numpy()
    head = [model.get_layer(name) for name in ("flatten", "fc1", "fc2", "predictions")]
    crop_differs = 0.0
    for row in range(scores.shape[1]):
        for column in range(scores.shape[2]):
            x = features[:, row:row + 2, column:column + 2]
            for layer in head:
                x = layer(x)
            np.testing.assert_allclose(scores[:, row, column], x, rtol=1e-4, atol=1e-5)
            crop = images[:, 32 * row:32 * row + 64, 32 * column:32 * column + 64]
            crop_differs = max(crop_differs, float(np.abs(model(crop) - scores[:, row, column]).max()))
    # ...and not the classifier on the crop: a crop's border sees zero padding, the window real pixels.
    assert crop_differs > 1e-3
    # At the original size the one cell is the classifier's output.
    np.testing.assert_allclose(sliding(images[:, :64, :64])[:, 0, 0], model(images[:, :64, :64]), rtol=1e-4,
                               atol=1e-5)


def test_saves_and_loads_with_safe_mode(tmp_path):
    sliding = zoo.convolutionalize(zoo.build("lenet5"))
    sliding.save(tmp_path / "sliding.keras")
    loaded = keras.saving.load_model(tmp_path / "sliding.keras", safe_mode=True)
    images = photos(40, 1)
    np.testing.assert_array_equal(loaded(images), sliding(images))


def test_refuses_models_without_a_flatten_dense_head():
    with pytest.raises(ValueError, match=r"resnet18 has 0 Flatten layers.*global pooling head already"):
        zoo.convolutionalize(zoo.build("resnet18", input_shape=(32, 32, 3)))
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(4, name="hidden")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    with pytest.raises(ValueError, match=r"one chain of Dense, Dropout and Activation.*BatchNormalization 'bn'"):
        zoo.convolutionalize(keras.Model(inputs, keras.layers.Dense(2, name="logits")(x)))
