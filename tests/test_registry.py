"""The builder contract, over every registered model."""

import dataclasses

import keras
import numpy as np
import pytest
from conftest import FULL_SIZE_MODELS, photos

import zoo
from training import transfer

CLASSIFIERS = [n for n in zoo.list_models() if zoo.get_entry(n).task == "classification"]
# The models whose output is class scores (per image or per pixel) at `num_classes`. The
# similarity models (an embedding, a two-input Siamese network) take no num_classes:
# tests/test_similarity.py runs the registry-wide checks on them.
# The landmarker predicts points, not classes: tests/test_localization.py. The style
# net returns an image: tests/test_style_net.py.
CLASS_SCORES = [n for n in zoo.list_models() if zoo.get_entry(n).task not in ("similarity", "pair_similarity",
                                                                                "landmarks", "style")]


def small_shape(name):
    entry = zoo.get_entry(name)
    return (entry.min_size, entry.min_size, entry.input_shape[-1])


def output_shape(name, batch, shape, classes):
    """What model `name` returns for a batch of `shape` images, by its task."""
    task = zoo.get_entry(name).task
    if task == "classification":
        return (batch, classes)
    if task == "detection":  # the YOLO grid at stride 32 with its 5 default anchors
        return (batch, shape[0] // 32, shape[1] // 32, 5, 5 + classes)
    if task == "localization":  # [p_c, b_x, b_y, b_h, b_w, classes]
        return (batch, 5 + classes)
    return (batch, *shape[:2], classes)


@pytest.mark.parametrize("name", CLASS_SCORES)
def test_build_forward_save_load(name, tmp_path):
    shape = small_shape(name)
    model = zoo.build(name, input_shape=shape, num_classes=10)
    batch = photos(shape[0], shape[-1])  # 0-255: every model normalises its input itself
    outputs = model(batch, training=False)
    assert tuple(outputs.shape) == output_shape(name, len(batch), shape, 10)
    assert np.isfinite(outputs).all()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(batch, training=False), outputs, atol=1e-5)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)


def test_get_entry_builds_nothing(monkeypatch):
    built = []
    monkeypatch.setattr(keras.layers.Layer, "__init__",
                        lambda *a, **k: built.append(1) or pytest.fail("a layer was built"))
    for name in zoo.list_models():
        assert zoo.get_entry(name).name == name
    assert not built


@pytest.mark.parametrize("name, facts", [
    ("lenet5", dict(input_shape=(32, 32, 1), num_classes=10, input_range=(0.0, 255.0), preprocessing="unit",
                    head_layers=("f6", "predictions"), imagenet_weights=False, loss_weights=None)),
    ("efficientnet_b0", dict(input_shape=(224, 224, 3), input_range=(0.0, 255.0), head_layers=("predictions",),
                             imagenet_weights=True, preprocessing="efficientnet")),
    ("resnet50", dict(preprocessing="caffe", input_range=(0.0, 255.0))),
    ("resnet18", dict(preprocessing="unit")),
    ("vgg19", dict(preprocessing="caffe")),
    ("mobilenet_v2", dict(preprocessing="tf")),
    ("googlenet", dict(loss_weights=(1.0, 0.3, 0.3), task="classification")),
    ("vgg16", dict(head_layers=("fc1", "fc2", "predictions"), imagenet_weights=True, min_size=32)),
    ("mobilenet", dict(head_layers=("conv_preds",), imagenet_weights=True)),
    ("unet", dict(task="segmentation", num_classes=2, input_shape=(512, 512, 1))),
])
def test_get_entry_facts(name, facts):
    entry = zoo.get_entry(name)
    assert isinstance(entry, zoo.ModelEntry)
    assert {key: getattr(entry, key) for key in facts} == facts


# One model per family, and each preprocessing mode.
PREPROCESSING_FAMILIES = ["lenet5", "alexnet", "googlenet", "resnet18", "resnet50", "vgg16", "mobilenet",
                          "mobilenet_v2", "efficientnet_b0", "unet"]


@pytest.mark.parametrize("name", PREPROCESSING_FAMILIES)
def test_include_preprocessing_false_is_the_bare_graph(name):
    """The same layers, names and weights minus the "preprocessing" layer: the
    keras.applications graph and input convention (EfficientNet keeps its
    Rescaling and Normalization, as keras.applications does)."""
    shape = small_shape(name)
    model = zoo.build(name, input_shape=shape)
    plain = zoo.build(name, input_shape=shape, include_preprocessing=False)
    configs = [(type(layer).__name__, layer.get_config()) for layer in plain.layers]
    assert configs == [(type(layer).__name__, layer.get_config()) for layer in model.layers
                       if layer.name != "preprocessing"]
    assert [w.shape for w in plain.weights] == [w.shape for w in model.weights]
    inside = "preprocessing" in [layer.name for layer in model.layers]
    assert inside == (zoo.get_entry(name).preprocessing != "efficientnet")


@pytest.mark.parametrize("mode, reference", [
    ("caffe", keras.applications.resnet.preprocess_input),
    ("tf", keras.applications.mobilenet.preprocess_input),
    ("unit", lambda x: x / 255.0),
])
def test_preprocess_layer_matches_keras_preprocess_input(mode, reference, tmp_path):
    pixels = photos(32)
    layer = zoo.layers.Preprocess(mode, name="preprocessing")
    expected = reference(pixels.copy())  # preprocess_input may work in place
    np.testing.assert_allclose(layer(pixels), expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(layer(pixels.astype("uint8")), reference(pixels.astype("uint8")), atol=1e-4)
    assert zoo.layers.Preprocess.from_config(layer.get_config()).mode == mode
    grey = zoo.layers.Preprocess(mode)(photos(32, 1))
    assert grey.shape == (4, 32, 32, 1) and np.isfinite(grey).all()


def test_preprocess_layer_refuses_unknown_modes():
    with pytest.raises(ValueError, match="mode must be one of 'caffe', 'tf', 'unit'; got 'torch'"):
        zoo.layers.Preprocess("torch")
    with pytest.raises(ValueError, match="include_preprocessing must be True or False"):
        zoo.build("lenet5", include_preprocessing="yes")


def test_get_entry_arguments_are_what_build_accepts():
    entry = zoo.get_entry("googlenet")
    assert entry.arguments[:2] == ("name", "input_shape")
    assert {"aux_logits", "batch_norm", "features_only", "out_indices"} <= set(entry.arguments)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.task = "segmentation"


@pytest.mark.parametrize("name, args", [("lenet5", {}), ("resnet18", {}), ("mobilenet", {}),
                                        ("vgg11", {}), ("googlenet", {"aux_logits": True}),
                                        ("googlenet", {"aux_logits": True, "batch_norm": True})])
def test_head_layers_are_the_weighted_layers_the_top_adds(name, args):
    shape = (224, 224, 3) if args.get("aux_logits") else small_shape(name)
    backbone = {layer.name for layer in
                zoo.build(name, input_shape=shape, include_top=False, **args).layers}
    model = zoo.build(name, input_shape=shape, **args)
    added = {layer.name for layer in model.layers if layer.weights and layer.name not in backbone}
    assert added == {layer.name for layer in transfer.head_layers(model, name)}
    assert added <= set(zoo.get_entry(name).head_layers)


def test_unknown_entry_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model name .resnet81.. Did you mean resnet18"):
        zoo.get_entry("resnet81")


def test_list_models_natural_order():
    assert zoo.list_models("vgg*") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert zoo.list_models("efficientnet_b[0-2]") == ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2"]
    names = zoo.list_models()
    assert names.index("resnet18") < names.index("resnet101") and names.index("mobilenet") < names.index("resnet18")


def test_list_models_wildcards():
    assert zoo.list_models("resnet*") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert zoo.list_models("nothing*") == []


def test_register_duplicate_name_raises():
    with pytest.raises(ValueError, match="resnet50.*already registered"):
        zoo.register_model("resnet50", lambda options: None, paper="", input_shape=(1, 1, 1), min_size=1)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model name 'resnet05'.*resnet50"):
        zoo.build("resnet05")


def test_unknown_kwarg_is_named():
    with pytest.raises(TypeError, match=r"unknown argument\(s\) colour, widht.*accepts: name, input_shape"):
        zoo.build("resnet18", widht=2, colour="red")


@pytest.mark.parametrize("name, size, minimum", [("resnet18", 16, 32)])
def test_too_small_input_raises_before_building(name, size, minimum, monkeypatch):
    built = []
    monkeypatch.setattr(keras.layers.Conv2D, "__init__",
                        lambda *a, **k: built.append(1) or pytest.fail("a layer was built"))
    with pytest.raises(ValueError, match=fr"{name} needs inputs of at least {minimum}x{minimum}; got {size}x{size}"):
        zoo.build(name, input_shape=(size, size, 3))
    assert not built


@pytest.mark.parametrize("kwargs, message", [
    (dict(pooling="mean"), r"pooling must be one of"),
    (dict(input_shape=(2, 64, 64, 64, 3)), r"input_shape must be \(height, width, channels\)"),
    (dict(weights="/no/such/file.h5"), r"weights must be None, 'imagenet' or the path.*/no/such/file.h5"),
    (dict(weights="imagenet", num_classes=10), r"needs num_classes=1000; got 10"),
    (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), r"needs 2D images with 3 channels"),
    (dict(out_indices=(7,), features_only=True), r"out_indices must index its 5 feature maps"),
])
def test_bad_arguments_get_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("resnet50", **kwargs)


def test_imagenet_weights_offline_error_or_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(RuntimeError, match=r"Could not fetch the ImageNet weights of resnet50.*weights='/path/to/"):
        zoo.build("resnet50", weights="imagenet", include_top=False, input_shape=(32, 32, 3))


def test_features_only_strides_and_channels():
    model = zoo.build("resnet50", features_only=True, input_shape=(64, 64, 3))
    shapes = [tuple(o.shape[1:]) for o in model.outputs]
    assert shapes == [(32, 32, 64), (16, 16, 256), (8, 8, 512), (4, 4, 1024), (2, 2, 2048)]
    picked = zoo.build("resnet50", features_only=True, out_indices=(2, 4), input_shape=(64, 64, 3))
    assert [tuple(o.shape[1:]) for o in picked.outputs] == [shapes[2], shapes[4]]


def test_weights_from_path_round_trip(tmp_path):
    source = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5)
    path = tmp_path / "resnet18.weights.h5"
    source.save_weights(path)
    copy = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5, weights=str(path))
    batch = photos(32)
    np.testing.assert_array_equal(copy(batch), source(batch))


def test_pooling_without_top():
    model = zoo.build("resnet18", include_top=False, pooling="max", input_shape=(32, 32, 3))
    assert model.output.shape == (None, 512)
    assert zoo.build("resnet18", include_top=False, input_shape=(64, 64, 3)).output.shape == (None, 2, 2, 512)


@FULL_SIZE_MODELS
def test_model_info_reports_params_flops_and_weights():
    info = zoo.model_info("resnet18")
    assert info["params"] == 11_699_112 and info["trainable_params"] == 11_689_512
    # torchvision reports 1.81 GMACs for ResNet-18 at 224x224.
    assert 1.80e9 < info["flops"] / 2 < 1.83e9
    assert info["imagenet_weights"] is False and zoo.model_info("resnet50")["imagenet_weights"] is True
    assert info["input_shape"] == (224, 224, 3)


# Their valid (unpadded) convs and pools trim the borders, so a map is smaller
# than input / stride (the nominal stride, the product of strides): checked at
# their default input, where the trimming stays under one halving.
VALID_PADDED = ("lenet5", "lenet5_relu", "alexnet")


@pytest.mark.parametrize("name", zoo.list_models())
def test_features_only_maps_are_the_declared_ones(name):
    entry = zoo.get_entry(name)
    size = -(-max(entry.min_size, 64) // 32) * 32  # small, and a multiple of the deepest stride
    if name in VALID_PADDED:
        size = entry.input_shape[0]
    shape = (size, size, entry.input_shape[-1])
    if entry.features is None:
        with pytest.raises(ValueError, match="features_only"):
            zoo.build(name, features_only=True, input_shape=shape)
        return
    model = zoo.build(name, features_only=True, input_shape=shape)
    assert [o.shape[-1] for o in model.outputs] == [channels for _, channels in entry.features]
    for output, (stride, _) in zip(model.outputs, entry.features):
        height, width = output.shape[1:3]
        if name in VALID_PADDED:
            assert size // (2 * stride) < height == width <= size // stride
        else:
            assert (size / height, size / width) == (stride, stride)
