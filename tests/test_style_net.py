"""Fast style transfer: reflection padding, instance normalisation, the style net."""

import json

import keras
import numpy as np
import pytest
from conftest import photos

import zoo
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


def test_instance_norm_is_group_norm_with_a_group_per_channel_and_the_formula():
    """Ulyanov et al.'s formula in numpy (mean and variance per image and channel over
    H, W; gamma, beta per channel) = keras' GroupNormalization(groups=-1) = the zoo's
    InstanceNormalization (a GroupNormalization with a 4D call, for TFLite's sake)."""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3, 7, 5, 4)) * rng.uniform(0.1, 10, size=(3, 1, 1, 4))
         + rng.normal(size=(3, 1, 1, 4)) * 5).astype("float32")
    gamma, beta = rng.normal(size=4).astype("float32"), rng.normal(size=4).astype("float32")
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta
    for layer in (keras.layers.GroupNormalization(groups=-1, epsilon=1e-5),
                  zl.instance_norm("norm")):
        layer.build(x.shape)
        layer.set_weights([gamma, beta])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), want, atol=1e-5)
    assert isinstance(layer, keras.layers.GroupNormalization) and layer.groups == 4  # one per channel
    restored = zl.InstanceNormalization.from_config(layer.get_config())
    assert restored.epsilon == 1e-5 and restored.name == "norm"
    with pytest.raises(ValueError, match="groups=-1"):
        zl.InstanceNormalization(groups=2)


def test_nearest_upsampling_is_keras_upsampling2d():
    x = np.random.default_rng(2).normal(size=(2, 5, 7, 3)).astype("float32")
    layer = zl.NearestUpSampling2D((2, 3))
    want = keras.layers.UpSampling2D((2, 3), interpolation="nearest")(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), want)
    restored = zl.NearestUpSampling2D.from_config(layer.get_config())
    assert restored.size == (2, 3) and restored.interpolation == "nearest"


def test_pixel_range_is_a_scaled_tanh():
    x = np.linspace(-5, 5, 11, dtype="float32")
    got = keras.ops.convert_to_numpy(zl.PixelRange(0, 255)(x))
    np.testing.assert_allclose(got, 127.5 * (np.tanh(x) + 1), atol=1e-4)
    with pytest.raises(ValueError, match="low must be below high"):
        zl.PixelRange(1, 1)


def _conv_params(k, c_in, c_out, bias):
    return k * k * c_in * c_out + (c_out if bias else 0)


def test_style_net_params_follow_johnsons_table():
    """Johnson et al.'s supplementary table, counted by hand: convs followed by instance
    norm have no bias, each norm a gamma and a beta per channel; about 1.68M in all."""
    norm = lambda c: 2 * c  # noqa: E731
    count = (_conv_params(9, 3, 32, False) + norm(32)          # conv1, 9x9, stride 1
             + _conv_params(3, 32, 64, False) + norm(64)       # conv2, stride 2
             + _conv_params(3, 64, 128, False) + norm(128)     # conv3, stride 2
             + 5 * 2 * (_conv_params(3, 128, 128, False) + norm(128))  # 5 residual blocks
             + _conv_params(3, 128, 64, False) + norm(64)      # up1: upsample + conv
             + _conv_params(3, 64, 32, False) + norm(32)       # up2
             + _conv_params(9, 32, 3, True))                   # output conv to RGB
    model = zoo.build("style_net")
    assert model.count_params() == count == 1_677_635


def test_style_net_keeps_any_size_divisible_by_4_and_saves(tmp_path):
    model = zoo.build("style_net", input_shape=(None, None, 3))
    for height, width in [(32, 32), (40, 56)]:
        images = photos(64)[:2, :height, :width]
        out = keras.ops.convert_to_numpy(model(images))
        assert out.shape == images.shape
        assert 0 <= out.min() and out.max() <= 255
    assert {type(layer).__name__ for layer in model.layers} >= {"ReflectionPadding2D",
                                                                 "InstanceNormalization", "PixelRange"}
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in model.layers)
    path = tmp_path / "style_net.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    images = photos(32)
    np.testing.assert_allclose(loaded(images), model(images), atol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=(30, 32, 3)), "multiples of 4.*e.g. 32x32"),
    (dict(num_classes=10), "num_classes=10"),
    (dict(include_top=False), "include_top=False"),
])
def test_style_net_refuses_what_does_not_fit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.build("style_net", **kwargs)


def test_style_net_exports_to_tflite_with_pixel_parity(tmp_path):
    import export

    model = zoo.build("style_net", input_shape=(32, 32, 3))
    result = export.export_model(model, tmp_path, latency_runs=0)
    assert result["outputs"] == ["image"]
    parity = result["tflite"]["parity"]
    assert parity["passed"] and parity["rule"] == {"max_abs_error_pixels": 0.5}
    assert parity["outputs"][0]["max_abs_error"] <= 0.5
    assert result["tflite"]["flex"]["ops"] == []
    # builtins only, none of the SHAPE / TILE / 5D MEAN of keras' UpSampling2D and
    # GroupNormalization (zoo/layers/style.py says why)
    assert set(result["tflite"]["op_counts"]) == {
        "ADD", "CONV_2D", "MEAN", "MIRROR_PAD", "MUL", "RESIZE_NEAREST_NEIGHBOR", "RSQRT",
        "SQUARED_DIFFERENCE", "SUB", "TANH"}
    meta = json.loads(open(result["metadata_path"]).read())
    assert meta["outputs"][0]["kind"] == "image" and meta["labels"] is None


def test_image_parity_is_in_pixels():
    from export import ParityError, parity

    want = np.full((2, 4, 4, 3), 100.0)
    assert parity.compare_images([want], [want + 0.4], "none")["passed"]
    with pytest.raises(ParityError, match=r"max abs pixel error 0.6 > 0.5 pixels"):
        parity.compare_images([want], [want + 0.6], "none")
    assert parity.compare_images([want], [want + 3.0], "dynamic")["passed"]  # mean 3 <= 4
