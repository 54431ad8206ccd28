"""zoo.explain against brute force, hand computations and tf-keras-vis."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import photos
from PIL import Image
from sklearn.datasets import load_digits
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam, GuidedBackpropagation
from tf_keras_vis.utils.scores import CategoricalScore

import zoo
from zoo import explain
from zoo import layers as zl
from zoo.explain import ReceptiveField


def digits(count, size=16):
    """The first `count` scikit-learn digits, resized to size x size, 0-255, and their labels."""
    data = load_digits()
    images = tf.image.resize(data.images[:count, ..., None] * (255.0 / 16.0), (size, size)).numpy()
    return images, data.target[:count]


def small_cnn(input_shape=(16, 16, 1), classes=5):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(6, 3, name="c2")(x)
    x = keras.layers.Activation("relu", name="c2_relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="predictions")(x))


# ---- receptive fields ----

@pytest.mark.parametrize("build", [
    lambda: keras.applications.VGG16(weights=None, include_top=False),
    lambda: zoo.build("vgg16", include_top=False),
], ids=["keras.applications", "zoo"])
def test_receptive_field_of_vgg16(build):
    model = build()
    # Known values: 13 3x3 convs and 2x2 pools; offset = -(1 + 1 + 2 + 2 + 3 * (4 + 8 + 16)).
    assert explain.receptive_field(model, "block5_conv3") == ReceptiveField((196, 196), (16, 16), (-90, -90))
    assert explain.receptive_field(model, "block5_pool") == ReceptiveField((212, 212), (32, 32), (-90, -90))
    assert explain.receptive_field(model, "block1_conv1") == ReceptiveField((3, 3), (1, 1), (-1, -1))


# google-research/receptive_field's table for the TF-Slim twins at 224x224:
# receptive field, effective stride, effective padding (-offset). TF-Slim's
# ResNet strides the 3x3 conv of a block's last unit, Keras's the first 1x1 of
# its first: same field, padding 239 there, so only size and stride compare.
PUBLISHED_FIELDS = [("alexnet", "pool5", 195, 64), ("mobilenet", "conv_pw_13_relu", 315, 126),
                    ("resnet50", "conv5_block3_out", 483, None), ("resnet18", "conv5_block2_out", 435, None)]


@pytest.mark.parametrize("name, layer, size, padding", PUBLISHED_FIELDS,
                         ids=[row[0] for row in PUBLISHED_FIELDS])
def test_receptive_field_of_zoo_models_matches_published_values(name, layer, size, padding):
    model = zoo.build(name, include_top=False, input_shape=(224, 224, 3))
    field = explain.receptive_field(model, layer)
    assert field.size == (size, size) and field.stride == (32, 32)
    if padding is not None:
        assert field.offset == (-padding, -padding)


def _positive_model():
    """Asymmetric padding, "same" with stride 2 on odd sizes, dilation, a
    residual join of two fields, max pooling, cropping and a non-square
    kernel and stride; positive weights and no biases, so a pixel reaches
    every unit it is connected to."""
    positive = keras.initializers.RandomUniform(0.5, 1.0)

    def conv(filters, kernel, name, **kwargs):
        return keras.layers.Conv2D(filters, kernel, kernel_initializer=positive, use_bias=False,
                                   name=name, **kwargs)

    inputs = keras.Input((23, 23, 1))
    x = keras.layers.ZeroPadding2D(((2, 0), (1, 3)), name="pad")(inputs)
    x = conv(2, 3, "stem", strides=2, padding="same")(x)
    dilated = conv(2, 3, "dilated", dilation_rate=2, padding="same")(x)
    shortcut = conv(2, 1, "shortcut")(x)
    x = keras.layers.Add(name="join")([dilated, shortcut])
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = keras.layers.Cropping2D(((1, 0), (0, 1)), name="crop")(x)
    x = conv(2, (3, 2), "last", strides=(1, 2))(x)
    return keras.Model(inputs, x)


def test_receptive_field_equals_the_pixels_that_move_each_unit():
    model = _positive_model()
    names = ("stem", "dilated", "join", "pool", "crop", "last")
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    # One image per input pixel, that pixel 1 and the rest 0: a unit moves iff the pixel is in its field.
    pixels = np.eye(23 * 23, dtype="float32").reshape(-1, 23, 23, 1)
    for name, output in zip(names, probe(pixels)):
        moved = np.asarray(output).max(axis=-1) > 0  # (pixel, rows, columns)
        field = explain.receptive_field(model, name)
        for row in range(moved.shape[1]):
            for column in range(moved.shape[2]):
                seen = np.argwhere(moved[:, row, column].reshape(23, 23))
                top, left, bottom, right = field.box(row, column)
                if max(top, 0) >= min(bottom, 23) or max(left, 0) >= min(right, 23):
                    assert len(seen) == 0, (name, row, column)  # a field all in the padding
                    continue
                first, last = seen.min(axis=0), seen.max(axis=0) + 1
                assert first[0] >= top and first[1] >= left and last[0] <= bottom and last[1] <= right
                # Each edge inside the image is seen (a clipped edge may fall in a dilation's hole).
                for start, seen_start in ((top, first[0]), (left, first[1])):
                    assert seen_start == start or start < 0, (name, row, column)
                for end, seen_end in ((bottom, last[0]), (right, last[1])):
                    assert seen_end == end or end > 23, (name, row, column)
    assert explain.receptive_field(model, "last").stride == (4, 8)


def test_receptive_field_refuses_layers_without_one():
    class Blur(keras.layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    blurred = Blur(name="blur")(x)
    up = keras.layers.Conv2DTranspose(2, 2, strides=2, name="up")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, [blurred, up, pooled])
    for layer, message in (("gap", "whole image"), ("up", "upsamples"), ("blur", "Blur")):
        with pytest.raises(ValueError, match=message):
            explain.receptive_field(model, layer)
    with pytest.raises(ValueError, match="Did you mean conv"):
        explain.receptive_field(model, "convv")


# ---- units: filters, top patches, neighbours, t-SNE ----

def test_filters_tiles_are_each_kernel_normalised_in_rgb_order():
    inputs = keras.Input((16, 16, 3))
    x = zl.Preprocess("caffe", name="preprocessing")(inputs)  # turns RGB into BGR
    model = keras.Model(inputs, keras.layers.Conv2D(5, 3, name="conv1")(x))
    kernel = model.get_layer("conv1").kernel.numpy()
    picture = explain.filters(model)
    assert picture.shape == (2 * 3 + 1, 3 * 3 + 2, 3)  # 3 columns, 2 rows, 1-pixel gaps
    for j in range(5):
        tile = kernel[:, :, ::-1, j]  # BGR kernel -> RGB tile
        expected = np.round((tile - tile.min()) / (tile.max() - tile.min()) * 255)
        top, left = (j // 3) * 4, (j % 3) * 4
        np.testing.assert_array_equal(picture[top:top + 3, left:left + 3], expected)
    with pytest.raises(ValueError, match="1 or 3 image channels"):
        explain.filters(small_cnn(), "c2")


@pytest.mark.parametrize("distinct_images", [True, False])
def test_top_patches_are_the_true_top_k_cut_at_the_receptive_field(distinct_images):
    images, _ = digits(40)
    model = small_cnn()
    units, k = np.array([0, 2, 5]), 6
    result = explain.top_patches(model, "c2", images, k=k, units=units,
                                 distinct_images=distinct_images, batch_size=7)
    maps = keras.Model(model.input, model.get_layer("c2").output).predict(images, verbose=0)
    field = explain.receptive_field(model, "c2")
    assert field == ReceptiveField((7, 7), (2, 2), (0, 0))
    margin = field.size[0]
    padded = np.pad(images, ((0, 0), (margin, margin), (margin, margin), (0, 0)))
    for u, unit in enumerate(units):
        unit_maps = maps[..., unit]
        if distinct_images:  # each image's strongest position, then the strongest images
            flat = unit_maps.reshape(len(images), -1)
            order = np.argsort(-flat.max(axis=1), kind="stable")[:k]
            expected = [(i, *np.unravel_index(flat[i].argmax(), unit_maps.shape[1:])) for i in order]
        else:
            order = np.argsort(-unit_maps.reshape(-1), kind="stable")[:k]
            expected = [np.unravel_index(o, unit_maps.shape) for o in order]
        np.testing.assert_array_equal(result.locations[u], np.array(expected))
        for (i, row, column), value, patch in zip(expected, result.activations[u], result.patches[u]):
            assert value == pytest.approx(unit_maps[i, row, column])
            top, left = margin + field.offset[0] + row * 2, margin + field.offset[1] + column * 2
            np.testing.assert_array_equal(patch, padded[i, top:top + 7, left:left + 7])
    assert result.picture().shape == (3 * 7 + 2 * 2, k * 7 + (k - 1) * 2, 3)


def test_top_patches_rejects_bad_arguments():
    images, _ = digits(4)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 4\]"):
        explain.top_patches(small_cnn(), "c2", images, k=5)
    with pytest.raises(ValueError, match="units must be channel indices"):
        explain.top_patches(small_cnn(), "c2", images, k=2, units=[6])


def test_nearest_neighbours_match_a_brute_force_search():
    images, _ = digits(30)
    model = small_cnn()
    result = explain.nearest_neighbours(model, "c2", images[:4], images[4:], k=3)
    features = keras.Model(model.input, model.get_layer("c2").output).predict(images, verbose=0)
    features = features.reshape(len(images), -1).astype("float64")
    for q in range(4):
        distances = [np.linalg.norm(features[q] - g) for g in features[4:]]
        np.testing.assert_array_equal(result.indices[q], np.argsort(distances)[:3])
        np.testing.assert_allclose(result.distances[q], np.sort(distances)[:3], rtol=1e-5)
    assert result.picture(images[:4], images[4:]).shape == (4 * 16 + 3 * 2, 4 * 16 + 3 * 2, 3)


def test_embedding_map_numbers_are_scikit_learns(tmp_path):
    from sklearn.manifold import trustworthiness

    images, labels = digits(120)
    model = small_cnn()
    result = explain.embedding_map(model, "c2", images, labels, perplexity=20)
    features = explain.activations(model, "c2", images).reshape(len(images), -1)
    assert result.points.shape == (120, 2)
    assert result.trustworthiness == pytest.approx(trustworthiness(features, result.points, n_neighbors=5))
    distances = np.linalg.norm(result.points[:, None] - result.points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert result.one_nn_accuracy == pytest.approx(np.mean(labels[distances.argmin(axis=1)] == labels))
    picture = result.picture()
    path = tmp_path / "tsne.png"
    explain.save_png(path, picture)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), picture)


@pytest.mark.slow
def test_tsne_of_lenet5_penultimate_features_on_digits():
    """The issue's gate: trustworthiness (k=5) >= 0.98 and 1-NN accuracy in the map >= 0.95."""
    images, labels = digits(1797, size=32)
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=8, batch_size=64, verbose=0)
    result = explain.embedding_map(model, "f6", images, labels)
    assert result.trustworthiness >= 0.98
    assert result.one_nn_accuracy >= 0.95


# ---- attribution: occlusion, saliency, guided backprop, Grad-CAM ----

def _linear_model(shape=(10, 12, 3), classes=4):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, bias_initializer="ones")(x))


def test_occlusion_on_a_linear_model_is_the_hand_computed_drop():
    model = _linear_model()
    image = np.random.default_rng(0).uniform(0, 255, (10, 12, 3)).astype("float32")
    weights = model.layers[-1].kernel.numpy()[:, 2].reshape(10, 12, 3)
    drops = explain.occlusion(model, image, 2, window=4, stride=2, fill=50.0)
    assert drops.shape == (5, 6)
    for row in range(5):
        for column in range(6):
            top, left = 2 * row - 1, 2 * column - 1  # a 4-pixel window centred on a 2-pixel cell
            box = (slice(max(top, 0), top + 4), slice(max(left, 0), left + 4))
            expected = np.sum(weights[box] * (image[box] - 50.0))
            assert drops[row, column] == pytest.approx(expected, rel=1e-4, abs=1e-2)
    # The default grey of a model that is not a zoo model is the image's mean.
    np.testing.assert_allclose(explain.occlusion(model, image, 2, window=4, stride=2),
                               explain.occlusion(model, image, 2, window=4, stride=2,
                                                 fill=float(image.mean())), rtol=1e-6)


def test_saliency_equals_tf_keras_vis():
    model = zoo.build("resnet18", num_classes=10, input_shape=(64, 64, 3))
    image = photos(64)[1]
    ours = explain.saliency(model, image, 3)
    reference = Saliency(model, clone=False)(CategoricalScore(3), image, normalize_map=False)[0]
    assert ours.shape == (64, 64) and reference.max() > 0
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5 * reference.max())


def test_saliency_of_a_segmentation_model_sums_the_class_over_the_mask():
    inputs = keras.Input((6, 7, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(inputs))  # per-pixel linear logits
    kernel = model.layers[-1].kernel.numpy()[0, 0]  # (3 channels, 4 classes)
    mask = np.zeros((6, 7), bool)
    mask[1:4, 2:6] = True
    image = photos(7)[0][:6]
    result = explain.saliency(model, image, 1, mask=mask)
    np.testing.assert_allclose(result, mask * np.abs(kernel[:, 1]).max(), rtol=1e-6)
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        explain.saliency(model, image, 1, mask=mask[:5])


def test_guided_backprop_of_relu_equals_tf_keras_vis():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    image = photos(16)[2]
    ours = explain.guided_backprop(model, image, 1)
    reference = Saliency(model, model_modifier=GuidedBackpropagation(), clone=True)(
        CategoricalScore(1), image, gradient_modifier=None, keepdims=True, normalize_map=False)[0]
    assert np.abs(reference).max() > 0
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())


SLOPES = {  # the guided rules, written out
    "relu": lambda z: z > 0,
    "relu6": lambda z: (z > 0) & (z < 6),
    "swish": lambda z: (z > 0) * (tf.sigmoid(z).numpy() * (1 + z * (1 - tf.sigmoid(z).numpy()))),
}
LAYERS = {"relu": keras.layers.ReLU, "relu6": lambda **k: keras.layers.ReLU(6.0, **k),
          "swish": lambda **k: keras.layers.Activation("swish", **k)}
FORWARD = {"relu": tf.nn.relu, "relu6": tf.nn.relu6, "swish": tf.nn.silu}


@pytest.mark.parametrize("fused", [False, True], ids=["layer", "fused"])
@pytest.mark.parametrize("kind", sorted(SLOPES))
def test_guided_backprop_follows_the_rule_of_each_activation(kind, fused):
    """The activation as its own layer (ReLU, ReLU(6), Activation("swish")) or
    fused into the convolution (Conv2D(activation=...))."""
    inputs = keras.Input((12, 12, 3))
    first = keras.layers.Conv2D(4, 3, activation=kind if fused else None, name="first",
                                kernel_initializer=keras.initializers.RandomNormal(0, 0.01))
    a = first(inputs) if fused else LAYERS[kind](name="act")(first(inputs))
    x = keras.layers.Conv2D(3, 1, name="second")(a)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, name="predictions")(x))
    image = photos(12)[0]
    linear = keras.layers.Conv2D(4, 3)  # the first convolution without its activation
    linear.build((None, 12, 12, 3))
    linear.set_weights(first.get_weights())
    rest = keras.Model(a, model.output)  # linear from the activation on
    x0 = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x0)
        pre = linear(x0)
    activated = FORWARD[kind](pre)
    with tf.GradientTape() as inner:
        inner.watch(activated)
        score = rest(activated)[0, 4]
    incoming = inner.gradient(score, activated).numpy()
    z0 = pre.numpy()
    assert (z0 > 6).any() and (z0 < 0).any()  # every case of the rules occurs
    passed = incoming * (incoming > 0) * SLOPES[kind](z0)
    expected = tape.gradient(pre, x0, output_gradients=tf.constant(passed, "float32"))
    ours = explain.guided_backprop(model, image, 4)
    np.testing.assert_allclose(ours, expected[0].numpy(), rtol=1e-4, atol=1e-6 * np.abs(ours).max())


def test_guided_backprop_leaves_the_model_as_it_was():
    model = zoo.build("mobilenet_v2", num_classes=4, input_shape=(32, 32, 3))  # ReLU6
    image = photos(32)[3]
    before = explain.saliency(model, image, 1)
    nodes = [len(layer._inbound_nodes) for layer in model.layers]
    guided = explain.guided_backprop(model, image, 1)
    assert np.isfinite(guided).all() and np.abs(guided).max() > 0
    assert not np.allclose(np.abs(guided).max(axis=-1) / before.max(), before / before.max(), atol=1e-3)
    assert [len(layer._inbound_nodes) for layer in model.layers] == nodes
    np.testing.assert_array_equal(explain.saliency(model, image, 1), before)
    assert not any(isinstance(layer, explain.attribution.GuidedActivation) for layer in model.layers)


def _grad_cam_by_definition(model, layer, image, score):
    """ReLU of the feature maps weighted by their mean-pooled gradients, through
    a head model that starts at the layer's output."""
    maps = keras.Model(model.input, model.get_layer(layer).output)(image[None])
    head = keras.Model(model.get_layer(layer).output, model.output)
    with tf.GradientTape() as tape:
        tape.watch(maps)
        value = score(head(maps))
    weights = tape.gradient(value, maps).numpy().mean(axis=(1, 2))  # (1, channels)
    return np.maximum((maps.numpy()[0] * weights[0]).sum(axis=-1), 0)


def test_grad_cam_of_resnet18_is_relu_of_cam_and_tf_keras_vis_reads_another_layer():
    model = zoo.build("resnet18", num_classes=10, input_shape=(96, 96, 3))
    image = photos(96)[1]
    assert explain.last_feature_map(model).name == "conv5_block2_out"  # the stride-32 map the head pools
    maps = keras.Model(model.input, model.get_layer("conv5_block2_out").output)(image[None])[0].numpy()
    kernel = model.get_layer("predictions").kernel.numpy()
    # tf-keras-vis seeks the last Conv2D layer: the residual branch's conv before its BN, the shortcut and ReLU.
    picked = ExtractIntermediateLayerForGradcam()(model).outputs[-1]._keras_history.operation.name
    assert picked == "conv5_block2_2_conv"
    differs = 0
    for class_index in range(6):
        ours = explain.grad_cam(model, image, class_index)
        # With global average pooling and a linear head, Grad-CAM is ReLU(CAM) / (h w) (Selvaraju, sec. 3.1).
        cam = np.maximum(maps @ kernel[:, class_index], 0) / (3 * 3)
        np.testing.assert_allclose(ours, cam, rtol=1e-4, atol=1e-6 * max(cam.max(), 1e-12))
        at_block = Gradcam(model, clone=False)(
            CategoricalScore(class_index), image, penultimate_layer="conv5_block2_out",
            seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False)[0]
        np.testing.assert_allclose(ours, at_block, rtol=1e-4, atol=1e-6 * max(cam.max(), 1e-12))
        default = Gradcam(model, clone=False)(CategoricalScore(class_index), image,
                                              expand_cam=False, normalize_cam=False)[0]
        differs += not np.allclose(ours, default, rtol=1e-3, atol=1e-6)
    assert differs >= 3


def test_grad_cam_default_layer_is_a_spatial_map_never_the_pooled_head():
    # MobileNet's head keeps a 1x1 map after global pooling, with the last map's 1024 channels.
    mobilenet = zoo.build("mobilenet", num_classes=3, input_shape=(32, 32, 3))
    assert explain.last_feature_map(mobilenet).name == "conv_pw_13_relu"
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = keras.layers.Conv2D(2, 1, name="logits_map")(x)
    model = keras.Model(inputs, keras.layers.Flatten(name="logits")(x))
    assert explain.last_feature_map(model).name == "conv"


def test_grad_cam_equals_its_definition_on_a_flattening_head():
    model = small_cnn()
    image = digits(1)[0][0]
    assert explain.last_feature_map(model).name == "c2_relu"
    for class_index in range(5):
        expected = _grad_cam_by_definition(model, "c2_relu", image, lambda out: out[0, class_index])
        np.testing.assert_allclose(explain.grad_cam(model, image, class_index), expected,
                                   rtol=1e-4, atol=1e-7)
    expected = _grad_cam_by_definition(model, "c1", image, lambda out: out[0, 2])
    np.testing.assert_allclose(explain.grad_cam(model, image, 2, layer="c1"), expected, rtol=1e-4, atol=1e-7)


def test_grad_cam_of_a_segmentation_model_explains_the_class_over_the_mask():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="middle")(x)
    x = keras.layers.UpSampling2D(name="up")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="logits")(x))
    mask = np.zeros((16, 16), bool)
    mask[4:12, 2:9] = True
    image = photos(16)[2]
    for class_index in range(3):
        expected = _grad_cam_by_definition(
            model, "middle", image, lambda out: tf.reduce_sum(out[0, ..., class_index] * mask))
        np.testing.assert_allclose(explain.grad_cam(model, image, class_index, layer="middle", mask=mask),
                                   expected, rtol=1e-4, atol=1e-7)


def test_attribution_rejects_bad_classes_and_images():
    model = small_cnn()
    image = digits(1)[0][0]
    with pytest.raises(ValueError, match=r"class_index must be an int in \[0, 5\)"):
        explain.saliency(model, image, 5)
    with pytest.raises(ValueError, match=r"takes one image of shape \(16, 16, 1\)"):
        explain.grad_cam(model, image[None], 0)
    with pytest.raises(ValueError, match="mask is for segmentation"):
        explain.occlusion(model, image, 0, mask=np.ones((16, 16), bool))


# ---- pictures ----

def test_save_png_reloads_to_the_array_drawn(tmp_path):
    image = photos(32)[0]
    heat = np.random.default_rng(0).normal(size=(4, 4))
    for name, picture in (("overlay", explain.overlay(image, heat)),
                          ("heat", explain.colorize(heat, "inferno")),
                          ("grid", explain.grid(np.stack([explain.to_uint8(i) for i in photos(8)])))):
        path = tmp_path / f"{name}.png"
        drawn = explain.save_png(path, picture, scale=2)
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), drawn)
        np.testing.assert_array_equal(drawn[::2, ::2], picture)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "heat.png", "overlay.png"]
    with pytest.raises(ValueError, match="uint8"):
        explain.save_png(tmp_path / "bad.png", image)


def test_overlay_blends_the_colourised_heat_map_over_the_image():
    import matplotlib

    image = photos(16)[0]
    heat = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(explain.overlay(image, heat, alpha=0.0), explain.to_uint8(image))
    coloured = explain.overlay(image, heat, alpha=1.0, cmap="viridis")
    ends = np.round(matplotlib.colormaps["viridis"]([0.0, 1.0])[:, :3] * 255)
    # Cell (0, 0) is the minimum and (3, 3) the maximum; their centre pixels keep those colours.
    np.testing.assert_array_equal(coloured[1, 1], ends[0])
    np.testing.assert_array_equal(coloured[14, 14], ends[1])
    np.testing.assert_array_equal(explain.to_uint8(np.full((2, 2, 1), 255.0)), np.full((2, 2, 3), 255))
