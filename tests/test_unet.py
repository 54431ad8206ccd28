"""U-Net: output size, size checks, batch norm, encoders, and a short training run."""

import keras
import numpy as np
import pytest
from conftest import FULL_SIZE_MODELS, photos

import zoo


def count(model, kind):
    return sum(isinstance(layer, kind) for layer in model.layers)


@pytest.mark.parametrize("depth, shape, batch_norm", [
    (1, (16, 18, 1), False),
    (2, (20, 16, 3), True),
    (4, (32, 48, 1), False),
    (5, (64, 32, 3), False),
])
def test_output_is_input_size_with_num_classes(depth, shape, batch_norm):
    model = zoo.build("unet", depth=depth, input_shape=shape, num_classes=3, base_filters=4,
                      batch_norm=batch_norm)
    batch = photos(64, shape[-1])[:, :shape[0], :shape[1]] / 255.0
    outputs = model(batch)
    assert tuple(outputs.shape) == (len(batch), *shape[:2], 3)
    assert np.isfinite(outputs).all()
    assert count(model, keras.layers.MaxPooling2D) == count(model, keras.layers.Conv2DTranspose) == depth
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2DTranspose)] \
        == [4 * 2 ** level for level in reversed(range(depth))]


def test_dropout_and_per_pixel_activation():
    plain = zoo.build("unet", input_shape=(16, 16, 1), base_filters=4, depth=2)
    model = zoo.build("unet", input_shape=(16, 16, 1), base_filters=4, depth=2, dropout=0.5,
                      classifier_activation="softmax", num_classes=3)
    assert model.get_layer("bottleneck_dropout").rate == 0.5
    assert "bottleneck_dropout" not in [layer.name for layer in plain.layers]
    probabilities = model(photos(16, 1) / 255.0)
    np.testing.assert_allclose(np.sum(probabilities, axis=-1), 1.0, atol=1e-5)


def test_batch_norm_replaces_conv_biases():
    plain = zoo.build("unet", input_shape=(16, 16, 1), base_filters=4, depth=2)
    normed = zoo.build("unet", input_shape=(16, 16, 1), base_filters=4, depth=2, batch_norm=True)
    convs = [layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)
             and layer.kernel_size == (3, 3)]
    assert len(convs) == 2 * (2 * 2 + 1) == count(normed, keras.layers.BatchNormalization)
    # Each 3x3 conv drops its bias (filters) and gains BN's gamma, beta, mean, variance.
    assert normed.count_params() == plain.count_params() + 3 * sum(c.filters for c in convs)


def unet_flops(size, channels, base, depth, classes):
    """FLOPs of the same-padded U-Net, from the paper's layout, independently of zoo.flops."""
    macs, c = 0, channels
    for level in range(depth + 1):  # contracting levels, then the bottleneck
        f, area = base * 2 ** level, (size // 2 ** level) ** 2
        macs, c = macs + area * 9 * (c * f + f * f), f
    for level in reversed(range(depth)):
        f, area = base * 2 ** level, (size // 2 ** level) ** 2
        macs += area // 4 * 4 * c * f + area * 9 * (2 * f * f + f * f)
        c = f
    return 2 * (macs + size * size * c * classes)


@FULL_SIZE_MODELS
def test_model_info():
    info = zoo.model_info("unet")
    assert info["task"] == "segmentation" and info["num_classes"] == 2
    assert info["input_shape"] == (512, 512, 1) and info["min_size"] == 16
    assert info["params"] == 31_030_658
    assert info["flops"] == unet_flops(512, 1, 64, 4, 2)
    assert {"base_filters", "depth", "batch_norm", "encoder", "encoder_weights"} <= set(info["arguments"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_shape=(40, 40, 1)),
     r"unet with depth=4 needs input height and width that are multiples of 16; got 40x40.*e\.g\. 48x48"),
    (dict(input_shape=(32, 24, 1)), r"multiples of 16; got 32x24"),
    (dict(input_shape=(48, 48, 1), depth=5), r"depth=5 needs .* multiples of 32; got 48x48"),
    (dict(depth=0), r"depth must be a positive int; got 0"),
    (dict(base_filters=2.5), r"base_filters must be a positive int; got 2.5"),
    (dict(batch_norm="yes"), r"batch_norm must be True or False; got 'yes'"),
    (dict(include_top=False), r"no classifier top.*got include_top=False"),
    (dict(pooling="avg", features_only=True), r"got pooling='avg', features_only=True"),
    (dict(encoder="unet"), r"encoder must be the name of a zoo classification model.*got 'unet'"),
    (dict(encoder="resnet81"), r"Unknown model name 'resnet81'.*resnet18"),
    (dict(encoder_weights="imagenet"), r"encoder_weights='imagenet' needs an encoder"),
])
def test_bad_arguments_raise_before_building(kwargs, message, monkeypatch):
    monkeypatch.setattr(keras.layers.Conv2D, "__init__", lambda *a, **k: pytest.fail("a layer was built"))
    with pytest.raises(ValueError, match=message):
        zoo.build("unet", **kwargs)


def test_resnet18_encoder_in_one_graph_saves_and_loads(tmp_path):
    model = zoo.build("unet", encoder="resnet18", input_shape=(64, 64, 3), num_classes=3, base_filters=8)
    # The encoder's layers are the model's own (no nested model), under their own names.
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert model.get_layer("conv5_block2_out") is not None
    # Skips at strides 2..16 (resnet18's first map is at stride 2), one last upsample to stride 1.
    assert count(model, keras.layers.Concatenate) == 4 and count(model, keras.layers.Conv2DTranspose) == 5
    assert "up0_concat" not in [layer.name for layer in model.layers]
    batch = photos(64) / 255.0
    outputs = model(batch)
    assert tuple(outputs.shape) == (4, 64, 64, 3)
    model.save(tmp_path / "unet.keras")
    loaded = keras.saving.load_model(tmp_path / "unet.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(batch), outputs, atol=1e-5)


def test_resnet50_encoder_non_square_and_depth():
    model = zoo.build("unet", encoder="resnet50", input_shape=(96, 64, 3), depth=4, base_filters=4)
    assert model.output.shape == (None, 96, 64, 2)
    # depth=4 stops at resnet50's stride-16 map (conv4), 1024 channels.
    assert "conv5_block1_out" not in [layer.name for layer in model.layers]
    assert model.get_layer("up3_upconv").input.shape == (None, 6, 4, 1024)


def test_mobilenet_v2_encoder():
    """The issue's own example: any zoo classifier with features_only is an encoder."""
    model = zoo.build("unet", encoder="mobilenet_v2", input_shape=(64, 64, 3), base_filters=4)
    assert model.output.shape == (None, 64, 64, 2)
    assert "block_16_project" in [layer.name for layer in model.layers]


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_shape=(48, 48, 3)), r"encoder='resnet18' \(5 downsampling steps\) needs input height and width "
                                    r"that are multiples of 32; got 48x48.*e\.g\. 64x64"),
    (dict(input_shape=(100, 64, 3)), r"multiples of 32; got 100x64"),
    (dict(input_shape=(40, 40, 3), depth=4), r"\(4 downsampling steps\) .*multiples of 16; got 40x40"),
    (dict(input_shape=(64, 64, 3), depth=6), r"encoder 'resnet18' downsamples 5 times .* got depth=6"),
])
def test_encoder_input_size_must_divide_its_stride(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("unet", encoder="resnet18", **kwargs)


def test_encoder_weights_from_path(tmp_path):
    source = zoo.build("resnet18", include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "resnet18_notop.weights.h5"
    source.save_weights(path)
    model = zoo.build("unet", encoder="resnet18", encoder_weights=str(path), input_shape=(32, 32, 3),
                      base_filters=4)
    for name in ("conv1_conv", "conv5_block2_2_conv"):
        for ours, theirs in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)


def shapes_dataset(n, size, rng):
    """Noise images with one filled circle or square each; the mask is the shape."""
    yy, xx = np.mgrid[:size, :size]
    images = rng.normal(0.5, 0.2, (n, size, size, 3)).astype("float32")
    masks = np.zeros((n, size, size), "int32")
    for image, mask in zip(images, masks):
        (cy, cx), r = rng.integers(12, size - 12, 2), rng.integers(6, 14)
        if rng.random() < 0.5:
            mask[...] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask[...] = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        image[mask == 1] += rng.uniform(0.3, 0.6) * rng.choice([-1, 1])
    return images, masks


def test_resnet18_unet_learns_shape_masks():
    images, masks = shapes_dataset(32, 64, np.random.default_rng(0))
    model = zoo.build("unet", encoder="resnet18", input_shape=(64, 64, 3), base_filters=8)
    optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Built up front, the optimizer's variables exist before tracing: one trace, not two.
    optimizer.build(model.trainable_variables)
    losses = model.fit(images, masks, batch_size=8, epochs=8, verbose=0).history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
