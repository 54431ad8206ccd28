"""LeNet-5, AlexNet and VGG: their own layers (LRN, the C3 connection table),
family options, feature maps and published weights."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import photos

import zoo
from zoo import layers as zl
from zoo.lenet import PAPER_C3_TABLE


def channels_from_photos(size, channels):
    """A real feature map: the photos' RGB planes and their shifted copies, 0-255."""
    batch = photos(size)
    planes = [np.roll(batch, shift, axis=(1, 2)) for shift in range(-(-channels // 3))]
    return np.concatenate(planes, axis=-1)[..., :channels]


def lrn_reference(a, size, k, alpha, beta):
    """The paper's formula, summing over the channels that exist near each one."""
    out = np.empty_like(a, dtype="float64")
    depth = a.shape[-1]
    for i in range(depth):
        window = a[..., max(0, i - size // 2):min(depth, i + size // 2 + 1)].astype("float64")
        out[..., i] = a[..., i] / (k + alpha * (window ** 2).sum(-1)) ** beta
    return out


@pytest.mark.parametrize("params", [dict(), dict(size=3, k=1.0, alpha=1e-3, beta=0.5)])
def test_lrn_matches_the_papers_formula(params):
    a = channels_from_photos(8, 7)
    layer = zl.LocalResponseNormalization(**params)
    expected = lrn_reference(a, **{**dict(size=5, k=2.0, alpha=1e-4, beta=0.75), **params})
    # 0-255 values make alpha's sum dominate k: a wrong alpha convention (alpha / n) fails here.
    assert np.abs(expected / a.clip(1) - 1).max() > 0.5
    np.testing.assert_allclose(layer(a), expected, rtol=1e-5)
    clone = zl.LocalResponseNormalization.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(a), layer(a))


def test_lrn_rejects_even_size():
    with pytest.raises(ValueError, match="size must be an odd positive int.*got 4"):
        zl.LocalResponseNormalization(size=4)


def test_paper_c3_has_1516_params_and_the_tables_connections():
    model = zoo.build("lenet5", c3_table="paper")
    c3 = model.get_layer("c3")
    assert isinstance(c3, zl.ConnectionTableConv2D)
    assert c3.count_params() == 1_516
    assert [tuple(w.shape) for w in c3.weights] == [(5, 5, 60), (16,)]
    assert sorted(len(c) for c in PAPER_C3_TABLE) == [3] * 6 + [4] * 9 + [6]
    connected = np.abs(keras.ops.convert_to_numpy(c3.dense_kernel())).sum(axis=(0, 1)) > 0
    expected = np.zeros((6, 16), bool)
    for j, inputs in enumerate(PAPER_C3_TABLE):
        expected[list(inputs), j] = True
    np.testing.assert_array_equal(connected, expected)


def test_connection_table_conv_is_a_conv_with_the_masked_kernel():
    layer = zl.ConnectionTableConv2D(PAPER_C3_TABLE, 5, bias_initializer="glorot_uniform")
    x = channels_from_photos(14, 6) / 255.0
    outputs = layer(x)
    kernel = keras.ops.convert_to_numpy(layer.dense_kernel())
    expected = tf.nn.conv2d(x, kernel, strides=1, padding="VALID") + layer.bias
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_disconnected_maps_give_neither_output_nor_gradient():
    layer = zl.ConnectionTableConv2D(PAPER_C3_TABLE, 5)
    x = tf.constant(channels_from_photos(14, 6) / 255.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs = layer(x)
        per_map = [tf.reduce_sum(outputs[..., j]) for j in range(16)]
    for j, inputs in enumerate(PAPER_C3_TABLE):
        reaches = np.abs(tape.gradient(per_map[j], x).numpy()).sum(axis=(0, 1, 2)) > 0
        assert reaches.tolist() == [i in inputs for i in range(6)], f"C3 map {j}"
    # Changing a map the table leaves out of output 0 (S2 maps 0, 1, 2) changes nothing there.
    changed = x.numpy()
    changed[..., 3:] = 0.0
    after = layer(changed)
    np.testing.assert_array_equal(after[..., 0], outputs[..., 0])
    assert not np.allclose(after[..., 3], outputs[..., 3])


@pytest.mark.parametrize("connections, message", [
    ([], "connections must list"), ([(0, 0)], "connections must list"), ([(0,), ()], "connections must list"),
])
def test_connection_table_rejects_bad_tables(connections, message):
    with pytest.raises(ValueError, match=message):
        zl.ConnectionTableConv2D(connections, 3)


def test_connection_table_reading_a_missing_map_raises():
    with pytest.raises(ValueError, match="reads input map 6 but the input has 6 channels"):
        zl.ConnectionTableConv2D([(0, 6)], 3)(np.zeros((1, 8, 8, 6), "float32"))


VARIANTS = [
    ("lenet5", dict(c3_table="paper"), (32, 32, 1)),
    ("lenet5", dict(activation="relu", pool="max", c3_table="paper"), (40, 40, 1)),
    ("alexnet", dict(groups=1), (67, 67, 3)),
    ("alexnet", dict(groups=4, dropout=0.0), (99, 99, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", VARIANTS)
def test_option_variants_round_trip_through_keras_files(name, kwargs, shape, tmp_path):
    model = zoo.build(name, input_shape=shape, num_classes=7, **kwargs)
    batch = photos(shape[0], shape[-1]) / 255.0
    outputs = model(batch, training=False)
    assert outputs.shape == (4, 7) and np.isfinite(outputs).all()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(batch, training=False), outputs, atol=1e-5)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    # JSON, as build configs come back with lists where tuples went in.
    assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(model.get_config(), sort_keys=True)


def test_lenet_options_select_layers():
    model = zoo.build("lenet5", activation="relu", pool="max")
    assert isinstance(model.get_layer("s2"), keras.layers.MaxPooling2D)
    assert model.get_layer("c1_relu").get_config()["activation"] == "relu"
    assert model.get_layer("f6").get_config()["activation"] == "relu"
    default = zoo.build("lenet5")
    assert isinstance(default.get_layer("s4"), keras.layers.AveragePooling2D)
    assert type(default.get_layer("c3")) is keras.layers.Conv2D
    assert default.get_layer("c5_tanh").get_config()["activation"] == "tanh"


@pytest.mark.parametrize("name, kwargs, message", [
    ("lenet5", dict(activation="sigmoid"), r"lenet5: activation must be one of 'tanh', 'relu'; got 'sigmoid'"),
    ("lenet5", dict(pool="min"), r"lenet5: pool must be one of 'avg', 'max'; got 'min'"),
    ("lenet5", dict(c3_table="sparse"), r"lenet5: c3_table must be one of 'full', 'paper'; got 'sparse'"),
    ("alexnet", dict(groups=3), r"alexnet: groups must be an int dividing .*\[1, 2, 4, 8, 16, 32\]\); got 3"),
    ("vgg16", dict(input_shape=(16, 16, 3)), r"vgg16 needs inputs of at least 32x32; got 16x16"),
    ("alexnet", dict(input_shape=(66, 66, 3)), r"alexnet needs inputs of at least 67x67; got 66x66"),
    ("lenet5", dict(input_shape=(28, 28, 1)), r"lenet5 needs inputs of at least 32x32; got 28x28"),
    ("vgg19", dict(weights="imagenet", input_shape=(64, 64, 3)),
     r"vgg19: weights='imagenet' with include_top=True needs input_shape=\(224, 224, 3\); got \(64, 64, 3\)"),
])
def test_bad_family_arguments_get_one_clear_error(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build(name, **kwargs)


def test_min_sizes_are_tight():
    """One pixel under min_size no longer builds (the check is bypassed here)."""
    for name, shape in (("alexnet", (66, 66, 3)), ("lenet5", (31, 31, 1)), ("vgg11", (31, 31, 3))):
        options = zoo.options.BuildOptions(name, input_shape=shape)
        with pytest.raises(ValueError, match="(negative|zero)"):
            zoo.get_entry(name).builder(options)


@pytest.mark.parametrize("name, shape, expected", [
    ("lenet5", (32, 32, 1), [(14, 14, 6), (5, 5, 16)]),
    ("alexnet", (227, 227, 3), [(55, 55, 96), (27, 27, 96), (13, 13, 256), (6, 6, 256)]),
    ("vgg11", (64, 64, 3), [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512), (2, 2, 512)]),
])
def test_features_only_maps(name, shape, expected):
    model = zoo.build(name, features_only=True, input_shape=shape)
    assert [tuple(o.shape[1:]) for o in model.outputs] == expected


def test_vgg_dropout_follows_fc1_and_fc2_and_is_optional():
    names = [layer.name for layer in zoo.build("vgg11", input_shape=(32, 32, 3)).layers[-6:]]
    assert names == ["flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]
    assert zoo.build("vgg11", input_shape=(32, 32, 3)).get_layer("fc1_dropout").rate == 0.5
    names = [layer.name for layer in zoo.build("vgg11", input_shape=(32, 32, 3), dropout=0.0).layers]
    assert "fc1_dropout" not in names and "fc2" in names


@pytest.mark.slow
def test_vgg16_published_notop_file_loads(tmp_path, monkeypatch):
    """weights="imagenet" asks get_file for keras.applications' file and loads it.

    The file is stood in for (no network) by a legacy .h5 written from
    keras.applications.VGG16, the format of the published files.
    """
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg16_notop.h5")
    keras.saving.save_model(reference, path)
    asked = []
    monkeypatch.setattr(keras.utils, "get_file",
                        lambda name, url, **kwargs: asked.append((name, url, kwargs["file_hash"])) or path)
    model = zoo.build("vgg16", weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert asked == [("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                      "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "6d6bbae143d832006294945121d1f1fc")]
    # 0-255 pixels in: the zoo model subtracts the caffe means itself.
    expected = reference(keras.applications.vgg16.preprocess_input(photos(32)))
    np.testing.assert_allclose(model(photos(32)), expected, rtol=1e-5, atol=1e-4)
