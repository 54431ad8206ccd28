"""1D and 3D networks from the same builders, and I3D inflation of 2D weights."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import export
import zoo
from zoo import layers as zl

ND_FAMILIES = ["vgg11", "resnet18", "resnet50", "mobilenet", "mobilenet_v2", "efficientnet_b0"]
SHAPES = {1: (64, 3), 2: (32, 32, 3), 3: (32, 32, 32, 3)}
CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
         keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
         keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)


def build(name, dims, **kwargs):
    if name == "unet":
        kwargs = {"base_filters": 4, "depth": 2, **kwargs}
    elif name.startswith("vgg"):
        kwargs = {"include_top": False, "pooling": "avg", **kwargs}
    else:
        kwargs = {"num_classes": 5, **kwargs}
    return zoo.build(name, **{"input_shape": SHAPES[dims], **kwargs})


def test_entries_list_their_ranks():
    assert zoo.get_entry("resnet18").spatial_dims == (1, 2, 3)
    assert zoo.get_entry("lenet5").spatial_dims == (2,)
    with pytest.raises(ValueError, match=r"lenet5 is built in 2D; got the 1D input_shape=\(64, 1\)"):
        zoo.build("lenet5", input_shape=(64, 1))


@pytest.mark.parametrize("name", [*ND_FAMILIES, "unet"])
@pytest.mark.parametrize("dims", [1, 3])
def test_parameters_follow_k_to_the_n(name, dims):
    """Each conv of the n-D model holds k^n * C_in * C_out (+ biases) where its 2D twin
    holds k^2 * C_in * C_out; every other layer holds the same weights."""
    flat, deep = build(name, 2), build(name, dims)
    weighted = [layer for layer in flat.layers if layer.weights]
    assert [layer.name for layer in weighted] == [layer.name for layer in deep.layers if layer.weights]
    for layer in weighted:
        twin = deep.get_layer(layer.name)
        if isinstance(layer, CONVS):
            k = layer.kernel.shape[0]
            assert tuple(layer.kernel.shape[:2]) == (k, k), layer.name
            # A 3D depthwise conv is a grouped Conv3D: kernel (k, k, k, 1, C * multiplier).
            rest = math.prod(layer.kernel.shape[2:])
            assert math.prod(twin.kernel.shape) == k ** dims * rest, layer.name
            assert twin.count_params() - math.prod(twin.kernel.shape) == \
                layer.count_params() - math.prod(layer.kernel.shape), layer.name
        else:
            assert [w.shape for w in twin.weights] == [w.shape for w in layer.weights], layer.name


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "efficientnet_b0"])
@pytest.mark.parametrize("dims", [1, 3])
def test_features_only_maps_are_the_input_over_their_strides(name, dims):
    model = build(name, dims, features_only=True, include_top=False)
    maps = model(np.zeros((1, *SHAPES[dims]), "float32"))
    for (stride, channels), feature in zip(zoo.get_entry(name).features, maps):
        assert tuple(feature.shape[1:]) == (*(d // stride for d in SHAPES[dims][:-1]), channels)


@pytest.mark.parametrize("dims", [1, 3])
def test_round_trip_and_free_length(dims, tmp_path):
    model = build("mobilenet_v2", dims, input_shape=(*([None] * dims), 3), include_top=False,
                  pooling="max", num_classes=1000)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, *SHAPES[dims])).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_3d_depthwise_conv_is_a_grouped_conv3d():
    x = tf.random.stateless_normal((2, 5, 6, 7, 3), seed=(1, 2))
    y = zl.depthwise_conv(keras.Input((5, 6, 7, 3)), 3, padding="same", depth_multiplier=2, name="dw")
    layer = y._keras_history.operation
    assert isinstance(layer, keras.layers.Conv3D) and layer.groups == 3
    kernel = layer.kernel.numpy()  # (3, 3, 3, 1, 6): output c * 2 + j reads channel c only
    got = layer(x).numpy()
    for c in range(3):
        for j in range(2):
            alone = tf.nn.conv3d(x[..., c:c + 1], kernel[..., c * 2 + j:c * 2 + j + 1],
                                 strides=(1,) * 5, padding="SAME").numpy()
            np.testing.assert_allclose(got[..., c * 2 + j], alone[..., 0], atol=1e-5)


def test_1d_exports_to_tflite_with_parity(tmp_path):
    model = build("resnet18", 1)
    held_out = np.random.default_rng(0).uniform(0, 255, (4, *SHAPES[1])).astype("float32")
    report = export.export_model(model, tmp_path / "out", formats="tflite", held_out=held_out,
                                 latency_runs=0)
    assert report["tflite"]["parity"]["passed"] and not report["tflite"]["flex"]["ops"]


@pytest.mark.parametrize("name, message", [
    ("resnet18", r"Flex \(SELECT_TF_OPS\) op\(s\) FlexMaxPool3D from layer type\(s\) MaxPooling3D"),
    ("mobilenet_v2", r"LiteRT's CONV_3D kernel has no groups"),
])
def test_3d_export_refuses_what_phones_cannot_run(name, message, tmp_path):
    model = build(name, 3)
    held_out = np.zeros((2, *SHAPES[3]), "float32")
    with pytest.raises(export.ExportError, match=message):
        export.export_model(model, tmp_path / "out", formats="tflite", held_out=held_out,
                            latency_runs=0)
    assert not (tmp_path / "out").exists()


def _with_random_statistics(model):
    """BatchNorm statistics away from (0, 1), so inflation has something to keep."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    return model


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_inflated_model_on_a_still_clip_equals_the_2d_model(name):
    flat = _with_random_statistics(zoo.build(name, input_shape=(32, 32, 3), num_classes=5))
    clip_model = zoo.inflate(flat, 4)
    assert clip_model.input_shape == (None, 4, 32, 32, 3)
    assert clip_model.count_params() == flat.count_params()  # time kernel 1
    image = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    clip = np.repeat(image[:, None], 4, axis=1)
    np.testing.assert_allclose(clip_model.predict(clip, verbose=0), flat.predict(image, verbose=0),
                               atol=1e-4)


def test_inflated_time_kernel_matches_away_from_the_ends():
    flat = zoo.build("unet", input_shape=(16, 16, 1), base_filters=4, depth=1)
    clip_model = zoo.inflate(flat, 16, time_kernel=3)
    conv = clip_model.get_layer("down0_conv1_conv")
    assert tuple(conv.kernel.shape) == (3, 3, 3, 1, 4)
    np.testing.assert_allclose(conv.kernel.numpy().sum(0), flat.get_layer("down0_conv1_conv").kernel.numpy(),
                               rtol=1e-5, atol=1e-6)
    image = np.random.default_rng(2).uniform(0, 255, (1, 16, 16, 1)).astype("float32")
    got = clip_model.predict(np.repeat(image[:, None], 16, axis=1), verbose=0)
    expected = flat.predict(image, verbose=0)
    # 6 "same" 3-frame convs reach 6 frames each way: frames 6..9 see no padding.
    for frame in range(6, 10):
        np.testing.assert_allclose(got[:, frame], expected, atol=1e-4)
    assert np.abs(got[:, 0] - expected).max() > 1e-3  # the ends do see it


@pytest.mark.parametrize("model, message", [
    (lambda: zoo.build("lenet5"), r"inflate cannot make layer 'c1' .*connection table|"
                                  r"inflate cannot make layer 'flatten'"),
    (lambda: zoo.build("vgg11", input_shape=(32, 32, 3)), r"layer 'flatten' \(Flatten\).*include_top=False"),
    (lambda: zoo.build("resnet18", input_shape=(64, 3)), r"inflate takes a 2D model"),
])
def test_inflate_refuses_what_has_no_3d_form(model, message):
    with pytest.raises(ValueError, match=message):
        zoo.inflate(model(), 8)
