"""zoo/similarity.py: the embedding network on any zoo backbone and the Siamese
network, with what the registry-wide tests check of every other model
(build, save/load, gradients, mixed precision, TFLite) and their own contracts."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import FULL_SIZE_MODELS, photos

import export
import zoo
from training import transfer
from zoo.layers.pair import CHI2_EPSILON

SIZE = 32
SHAPE = (SIZE, SIZE, 3)
# One classifier per family builder, at its smallest input (grey for LeNet-5).
BACKBONES = {"lenet5": (32, 32, 1), "alexnet": (67, 67, 3), "googlenet": SHAPE, "resnet50": SHAPE,
             "vgg11": SHAPE, "mobilenet": SHAPE, "mobilenet_v2": SHAPE, "efficientnet_b0": SHAPE}


def embedding(**kwargs):
    return zoo.build("embedding", **{"input_shape": SHAPE, "embedding_dim": 16, **kwargs})


def siamese(**kwargs):
    return zoo.build("siamese", **{"input_shape": SHAPE, "embedding_dim": 16, **kwargs})


def pair():
    batch = photos(SIZE)
    return batch, batch[::-1].copy()


# --- the embedding network -------------------------------------------------------

@pytest.mark.parametrize("backbone", ["resnet18", *BACKBONES])
def test_any_classifier_is_a_backbone_with_unit_embeddings(backbone):
    shape = BACKBONES.get(backbone, SHAPE)
    model = zoo.build("embedding", backbone=backbone, input_shape=shape, embedding_dim=24)
    # Batch statistics: with fresh weights, MobileNet's and EfficientNet's pooled features
    # in inference mode are ~1e-20, under float32's reach of an L2 norm.
    vectors = model(photos(shape[0], shape[-1]), training=True).numpy()
    assert vectors.shape == (4, 24)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_the_backbone_is_the_classifier_without_its_top_preprocessing_inside(tmp_path):
    # The backbone's own weights file loads by name; its pooled features, then the
    # projection and the normalisation, by hand.
    backbone = zoo.build("resnet50", input_shape=SHAPE, include_top=False, pooling="avg")
    path = tmp_path / "backbone.weights.h5"
    backbone.save_weights(path)
    model = embedding(backbone="resnet50", backbone_weights=str(path))
    assert model.get_layer("preprocessing").mode == zoo.get_entry("resnet50").preprocessing == "caffe"
    batch = photos(SIZE)
    features = backbone(batch, training=False).numpy()
    kernel, bias = model.get_layer("projection").get_weights()
    projected = features @ kernel + bias
    expected = projected / np.linalg.norm(projected, axis=1, keepdims=True)
    np.testing.assert_allclose(model(batch, training=False), expected, atol=1e-5)


def test_arguments_reach_the_backbone():
    plain = embedding(include_preprocessing=False)
    assert "preprocessing" not in [layer.name for layer in plain.layers]
    assert embedding(pooling="max").get_layer("max_pool") is not None
    half = embedding(backbone="mobilenet", backbone_args={"alpha": 0.5})
    assert half.get_layer("projection").kernel.shape == (512, 16)  # 1024 channels x alpha
    assert embedding(dropout=0.3).get_layer("embedding_dropout").rate == 0.3
    inputs = keras.Input(SHAPE, name="caller_input")
    composed = embedding(input_tensor=keras.layers.Rescaling(1.0, name="caller")(inputs))
    assert composed.inputs[0] is inputs
    free = embedding(input_shape=(None, None, 3))
    assert free(photos(48), training=False).shape == (4, 16)


# --- the Siamese network --------------------------------------------------------

@pytest.mark.parametrize("head", ["abs", "chi2"])
def test_siamese_is_symmetric_and_its_head_is_the_formula(head):
    model = siamese(head=head)
    first, second = pair()
    forward = model([first, second], training=False).numpy()
    np.testing.assert_array_equal(forward, model([second, first], training=False).numpy())
    f1, f2 = (model.get_layer("embedding")(x, training=False).numpy().astype("float64") for x in (first, second))
    features = np.abs(f1 - f2) if head == "abs" else (f1 - f2) ** 2 / (np.abs(f1) + np.abs(f2) + CHI2_EPSILON)
    kernel, bias = model.get_layer("predictions").get_weights()
    np.testing.assert_allclose(forward, features @ kernel + bias, atol=1e-6)  # logits
    assert forward.shape == (4, 1) and model.get_layer("embedding").output.shape == (None, 16)


def test_siamese_shares_one_embedding_network_and_takes_an_activation():
    model = siamese(classifier_activation="sigmoid")
    assert [layer.name for layer in model.layers] == ["input_a", "input_b", "embedding", "pair_features",
                                                      "predictions"]
    assert len(model.trainable_weights) == len(model.get_layer("embedding").trainable_weights) + 2
    probabilities = model(list(pair()), training=False).numpy()
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_chi2_is_guarded_where_components_vanish_or_cancel():
    layer = zoo.layers.PairFeatures("chi2")
    first = tf.constant([[0.0, 0.5, -0.5, 0.6]])
    second = tf.constant([[0.0, -0.5, 0.5, 0.8]])
    with tf.GradientTape() as tape:
        tape.watch(first)
        features = layer([first, second])
        total = tf.reduce_sum(features)
    grads = tape.gradient(total, first).numpy()
    # 0/eps = 0; f1 + f2 = 0 is no division by 0; |f1 - f2| bounds it.
    np.testing.assert_allclose(features, [[0.0, 1.0, 1.0, 0.04 / 1.4]], rtol=1e-5)
    assert np.isfinite(grads).all()
    assert (features.numpy() <= np.abs(first.numpy() - second.numpy()) + 1e-7).all()


# --- what every zoo model does ----------------------------------------------------

MODELS = {"embedding": embedding, "siamese_abs": siamese, "siamese_chi2": lambda: siamese(head="chi2")}


def inputs_of(model):
    return list(pair()) if len(model.inputs) == 2 else photos(SIZE)


@pytest.mark.parametrize("which", MODELS)
def test_save_load_safe_mode_and_inference_model(which, tmp_path):
    model = MODELS[which]()
    batch = inputs_of(model)
    outputs = model(batch, training=False)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(batch, training=False), outputs, atol=1e-6)
    stripped = zoo.inference_model(loaded)
    stripped.save(tmp_path / "inference.keras")
    again = keras.saving.load_model(tmp_path / "inference.keras", safe_mode=True)
    np.testing.assert_allclose(again(batch, training=False), outputs, atol=1e-6)


def test_a_model_compiled_with_the_triplet_loss_fits_and_reloads(tmp_path):
    model = embedding(backbone="lenet5", input_shape=(32, 32, 1))
    loss = zoo.losses.TripletLoss(margin=0.5, mining="hard")
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (16, 32, 32, 1)).astype("float32")
    labels = np.repeat(np.arange(4), 4)  # P=4 identities x K=4 images, one batch
    before = float(loss(labels, model(images)))
    history = model.fit(images, labels, batch_size=16, epochs=5, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and float(loss(labels, model(images))) < before
    model.save(tmp_path / "trained.keras")
    loaded = keras.saving.load_model(tmp_path / "trained.keras", safe_mode=True)
    assert loaded.loss.get_config() == loss.get_config()


def backward_pass(model, batch, labels):
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        if len(model.inputs) == 2:
            loss = keras.losses.binary_crossentropy(labels[:, None], outputs, from_logits=True)
        else:
            loss = zoo.losses.TripletLoss(margin=1.0, mining="all")(labels, outputs)
        loss = tf.reduce_mean(loss)
    return loss, tape.gradient(loss, model.trainable_weights)


@pytest.mark.parametrize("which", MODELS)
def test_one_backward_pass_reaches_every_trainable_weight(which):
    model = MODELS[which]()
    loss, grads = backward_pass(model, inputs_of(model), np.array([0.0, 1.0, 0.0, 1.0], "float32"))
    assert np.isfinite(float(loss)) and float(loss) > 0
    bad = [w.path for w, g in zip(model.trainable_weights, grads)
           if g is None or not np.isfinite(g).all() or not np.any(g)]
    assert not bad


@pytest.mark.parametrize("which", MODELS)
def test_mixed_bfloat16_outputs_and_variables_are_float32(which):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = MODELS[which]()
        output = model(inputs_of(model), training=False)
        assert output.dtype == "float32" and str(model.output.dtype) == "float32"
        assert {v.dtype for v in model.variables if keras.backend.is_float_dtype(v.dtype)} == {"float32"}
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_embedding_exports_to_tflite_with_parity(tmp_path):
    result = export.export_model(embedding(), tmp_path, formats="tflite", latency_runs=0)
    tflite = result["tflite"]
    assert tflite["flex"]["ops"] == [] and tflite["parity"]["passed"]
    assert max(o["max_abs_error"] for o in tflite["parity"]["outputs"]) <= 1e-5


# --- the registry's facts ------------------------------------------------------------

def test_entries_hold_the_default_backbones_facts():
    resnet18 = zoo.get_entry("resnet18")
    for name, num_classes, head, task in (("embedding", 128, ("projection",), "similarity"),
                                          ("siamese", 1, ("predictions",), "pair_similarity")):
        entry = zoo.get_entry(name)
        assert (entry.task, entry.features, entry.num_classes, entry.head_layers) == (task, None,
                                                                                      num_classes, head)
        assert (entry.input_shape, entry.min_size, entry.preprocessing, entry.input_range) == (
            resnet18.input_shape, resnet18.min_size, resnet18.preprocessing, resnet18.input_range)
        assert {"backbone", "embedding_dim", "backbone_weights", "backbone_args"} <= set(entry.family_args())
    assert "head" in zoo.get_entry("siamese").family_args()
    default = zoo.build("embedding")
    assert default.input_shape == (None, 224, 224, 3) and default.output.shape == (None, 128)


def test_head_layers_are_the_weighted_layers_the_top_adds():
    backbone = {layer.name for layer in zoo.build("resnet18", input_shape=SHAPE, include_top=False).layers}
    model = embedding()
    assert {layer.name for layer in model.layers if layer.weights and layer.name not in backbone} == {"projection"}
    assert [layer.name for layer in transfer.head_layers(model, "embedding")] == ["projection"]
    pairs = siamese()
    assert [layer.name for layer in transfer.head_layers(pairs, "siamese")] == ["predictions"]


@FULL_SIZE_MODELS
def test_model_info_counts_the_shared_embedding_once_per_input():
    info = zoo.model_info("siamese")
    assert info["flops"] == 2 * zoo.model_info("embedding")["flops"] + 2 * 128  # + the logistic unit
    assert info["task"] == "pair_similarity"


@pytest.mark.parametrize("name, kwargs, message", [
    ("embedding", dict(backbone="resnet81"), r"Unknown model name 'resnet81'. Did you mean resnet18"),
    ("embedding", dict(backbone="unet"), r"backbone must be a zoo classification model.*'unet' is a segmentation"),
    ("embedding", dict(backbone=zoo), r"backbone must be the name of a zoo classification model"),
    ("embedding", dict(embedding_dim=0), r"embedding_dim must be a positive int; got 0"),
    ("embedding", dict(num_classes=10), r"embedding has no classifier top .*got num_classes=10"),
    ("embedding", dict(include_top=False), r"no classifier top .*got include_top=False"),
    ("embedding", dict(features_only=True), r"got features_only=True"),
    ("embedding", dict(classifier_activation="softmax"), r"not logits; got classifier_activation='softmax'"),
    ("embedding", dict(backbone_args={"pooling": "max"}), r"backbone_args may not set pooling"),
    ("embedding", dict(backbone_args=[0.5]), r"backbone_args must be a dict"),
    ("embedding", dict(backbone_args={"alpha": 0.5}), r"resnet18 got unknown argument\(s\) alpha"),
    ("embedding", dict(input_shape=(16, 16, 3)), r"embedding needs inputs of at least 32x32; got 16x16"),
    ("embedding", dict(backbone="alexnet", input_shape=SHAPE), r"alexnet needs inputs of at least 67x67"),
    ("siamese", dict(head="l1"), r"head must be one of 'abs', 'chi2'; got 'l1'"),
    ("siamese", dict(num_classes=2), r"one same/different logit\); got num_classes=2"),
    ("siamese", dict(input_tensor=keras.Input(SHAPE)), r"takes two inputs.*leave input_tensor out"),
])
def test_bad_arguments_get_one_clear_error(name, kwargs, message):
    error = TypeError if "unknown argument" in message else ValueError
    with pytest.raises(error, match=message):
        zoo.build(name, **{"input_shape": SHAPE, **kwargs})
