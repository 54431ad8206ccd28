"""Classification with localisation and landmark detection: the heads on zoo
backbones, and their squared-error losses masked where no object is, on
hand-computed values."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import photos

import export
import zoo
from zoo.losses import LandmarkLoss, LocalizationLoss


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- the heads ----------------------------------------------------------------

def test_localizer_layout_on_any_backbone_and_input_size():
    model = zoo.build("localizer", backbone="resnet18", num_classes=3, input_shape=(None, None, 3))
    assert model.get_layer("predictions").units == 5 + 3
    assert model(photos(64)).shape == (4, 8) and model(photos(96)[:, :, :64]).shape == (4, 8)
    assert {"conv1_conv", "predictions"} <= {layer.name for layer in model.layers}  # backbone in the same graph
    entry = zoo.get_entry("localizer")
    assert entry.task == "localization" and {"backbone", "backbone_weights"} <= set(entry.arguments)


def test_landmarker_outputs_presence_and_points_and_refuses_classes():
    model = zoo.build("landmarker", num_landmarks=5, input_shape=(32, 32, 3))
    assert model(photos(32)).shape == (4, 1 + 2 * 5)
    assert zoo.build("landmarker", input_shape=(32, 32, 3)).output.shape == (None, 1 + 2 * 4)  # default: 4 points
    with pytest.raises(ValueError, match="give num_landmarks, not num_classes; got num_classes=10"):
        zoo.build("landmarker", num_classes=10, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="num_landmarks must be a positive int; got 0"):
        zoo.build("landmarker", num_landmarks=0, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"returns \[presence, x_1, y_1.*pooling='avg'"):
        zoo.build("landmarker", pooling="avg", input_shape=(32, 32, 3))


def test_landmarker_registry_contract(tmp_path):
    """What tests/test_registry.py, test_contract.py and test_export.py check of
    every model that returns class scores: forward, .keras round trip, a
    gradient for every weight (here through LandmarkLoss), TFLite parity."""
    model = zoo.build("landmarker", backbone="lenet5", num_landmarks=3, input_shape=(32, 32, 1))
    images = photos(32, 1)
    outputs = model(images, training=False)
    model.save(tmp_path / "landmarker.keras")
    loaded = keras.saving.load_model(tmp_path / "landmarker.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(images, training=False), outputs, atol=1e-5)
    targets = np.random.default_rng(0).uniform(0, 1, (4, 7)).astype("float32")
    targets[:, 0] = [1, 0, 1, 1]
    with tf.GradientTape() as tape:
        loss = LandmarkLoss()(targets, model(images, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.isfinite(g).all() and np.any(g) for g in grads)
    result = export.export_model(model, tmp_path / "export", formats="tflite", latency_runs=0)
    assert result["tflite"]["flex"]["ops"] == [] and result["tflite"]["parity"]["passed"]


# --- the losses ---------------------------------------------------------------

def test_localization_loss_hand_values_and_the_dont_care_mask():
    loss = LocalizationLoss(from_logits=False)
    y_true = np.array([[1, .5, .5, .2, .3, 0, 1, 0]], "float32")
    y_pred = np.array([[.8, .4, .5, .2, .5, .1, .7, .2]], "float32")
    # (0.8 - 1)^2 + box (0.1^2 + 0.2^2) + classes (0.1^2 + 0.3^2 + 0.2^2)
    np.testing.assert_allclose(loss(y_true, y_pred), 0.04 + 0.05 + 0.14, rtol=1e-6)
    # p_c = 0: only (p_hat - 0)^2, whatever the box and classes say
    absent = np.array([[0, 9, 9, 9, 9, 1, 0, 0]], "float32")
    np.testing.assert_allclose(loss(absent, y_pred), 0.8 ** 2, rtol=1e-6)
    np.testing.assert_allclose(loss(absent, y_pred * [[1, -3, 7, 2, 5, 0, 1, 4]]), 0.8 ** 2, rtol=1e-6)
    # the batch mean
    np.testing.assert_allclose(loss(np.concatenate([y_true, absent]), np.concatenate([y_pred, y_pred])),
                               (0.23 + 0.64) / 2, rtol=1e-6)


def test_localization_loss_from_logits_reads_sigmoid_and_softmax():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (5, 9)).astype("float32")
    y_true = np.concatenate([rng.integers(0, 2, (5, 1)), rng.uniform(0, 1, (5, 4)), np.eye(4)[rng.integers(0, 4, 5)]],
                            axis=1).astype("float32")
    classes = np.exp(logits[:, 5:]) / np.exp(logits[:, 5:]).sum(1, keepdims=True)
    probabilities = np.concatenate([sigmoid(logits[:, :1]), logits[:, 1:5], classes], axis=1)
    np.testing.assert_allclose(LocalizationLoss()(y_true, logits),
                               LocalizationLoss(from_logits=False)(y_true, probabilities), rtol=1e-5)
    expected = np.mean((probabilities[:, 0] - y_true[:, 0]) ** 2
                       + y_true[:, 0] * ((probabilities[:, 1:] - y_true[:, 1:]) ** 2).sum(1))
    np.testing.assert_allclose(LocalizationLoss()(y_true, logits), expected, rtol=1e-5)


def test_masked_terms_get_no_gradient():
    y_pred = tf.Variable(np.random.default_rng(1).normal(0, 1, (2, 9)).astype("float32"))
    y_true = np.array([[0, .5, .5, .2, .2, 0, 0, 1, 0], [1, .5, .5, .2, .2, 1, 0, 0, 0]], "float32")
    with tf.GradientTape() as tape:
        value = LocalizationLoss()(y_true, y_pred)
    grad = tape.gradient(value, y_pred).numpy()
    assert not grad[0, 1:].any() and grad[0, 0] != 0 and np.all(grad[1] != 0)


def test_landmark_loss_hand_values_and_mask():
    loss = LandmarkLoss(from_logits=False)
    y_true = np.array([[1, .2, .3, .6, .7], [0, .2, .3, .6, .7]], "float32")
    y_pred = np.array([[.9, .25, .3, .5, .7], [.4, 0, 0, 0, 0]], "float32")
    # image 1: 0.1^2 + 0.05^2 + 0.1^2; image 2: only 0.4^2
    np.testing.assert_allclose(loss(y_true, y_pred), (0.01 + 0.0025 + 0.01 + 0.16) / 2, rtol=1e-6)
    logits = np.array([[2.0, .25, .3, .5, .7]], "float32")
    np.testing.assert_allclose(LandmarkLoss()(y_true[:1], logits),
                               (sigmoid(2.0) - 1) ** 2 + 0.0025 + 0.01, rtol=1e-6)


@pytest.mark.parametrize("loss", [LocalizationLoss(from_logits=False), LandmarkLoss()])
def test_losses_save_with_a_model_and_refuse_mismatched_layouts(loss, tmp_path):
    name = "localizer" if isinstance(loss, LocalizationLoss) else "landmarker"
    model = zoo.build(name, backbone="lenet5", input_shape=(32, 32, 1))
    model.compile(optimizer="adam", loss=loss)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(loaded.loss) is type(loss) and loaded.loss.get_config() == loss.get_config()
    with pytest.raises(ValueError, match=r"targets and predictions \[batch, outputs\] of the same layout; "
                                         r"got \(2, 5\) and \(2, 8\)"):
        loss(np.zeros((2, 5)), np.zeros((2, 8)))
