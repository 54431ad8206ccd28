"""Fast style transfer: reflection padding, instance normalisation, the style net."""

import keras
import numpy as np
import pytest

from zoo import layers as zl


@pytest.mark.parametrize("padding", [1, (2, 3), ((1, 3), (0, 2))])
def test_reflection_padding_is_numpys_reflect(padding):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype("float32")
    layer = zl.ReflectionPadding2D(padding)
    (top, bottom), (left, right) = layer.padding
    want = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), want)
    assert layer.compute_output_shape((None, None, 6, 3)) == (None, None, 6 + left + right, 3)
    restored = zl.ReflectionPadding2D.from_config(layer.get_config())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x)), want)


def test_reflection_padding_refuses_bad_padding():
    with pytest.raises(ValueError, match="int >= 0"):
        zl.ReflectionPadding2D((1, -1))
    with pytest.raises(ValueError, match="needs a height above it"):
        zl.ReflectionPadding2D(3)(keras.Input((3, 8, 1)))


def test_instance_norm_is_per_image_per_channel_normalisation():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3, 7, 5, 4)) * rng.uniform(0.1, 10, size=(3, 1, 1, 4))
         + rng.normal(size=(3, 1, 1, 4)) * 5).astype("float32")
    layer = zl.instance_norm("norm")
    layer.build(x.shape)
    gamma, beta = rng.normal(size=4).astype("float32"), rng.normal(size=4).astype("float32")
    layer.set_weights([gamma, beta])
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), want, atol=1e-5)


def test_pixel_range_is_a_scaled_tanh():
    x = np.linspace(-5, 5, 11, dtype="float32")
    got = keras.ops.convert_to_numpy(zl.PixelRange(0, 255)(x))
    np.testing.assert_allclose(got, 127.5 * (np.tanh(x) + 1), atol=1e-4)
    with pytest.raises(ValueError, match="low must be below high"):
        zl.PixelRange(1, 1)
