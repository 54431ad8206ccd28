"""GoogLeNet: the inception module, the side classifiers, batch norm, strip_aux."""

import keras
import numpy as np
import pytest
from conftest import FULL_SIZE_MODELS, photos

import zoo
from zoo.inception import AUX_MIN_SIZE, strip_aux
from zoo.layers import inception_module

AUX_OUTPUTS = ["predictions", "aux1_predictions", "aux2_predictions"]


def test_inception_module_concatenates_its_branches():
    inputs = keras.Input((28, 28, 192))
    # Inception 3a: 64 + 128 + 32 + 32 = 256 channels.
    model = keras.Model(inputs, inception_module(inputs, 64, 96, 128, 16, 32, 32, name="m"))
    assert model.output.shape == (None, 28, 28, 256)
    # 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj, each with its bias.
    assert model.count_params() == (192 * 64 + 64) + (192 * 96 + 96) + (96 * 9 * 128 + 128) \
        + (192 * 16 + 16) + (16 * 25 * 32 + 32) + (192 * 32 + 32)


def test_inception_module_with_batch_norm_drops_conv_biases():
    inputs = keras.Input((14, 14, 64))
    model = keras.Model(inputs, inception_module(inputs, 8, 4, 16, 2, 4, 4, name="m",
                                                 batch_norm=True))
    assert model.output.shape == (None, 14, 14, 8 + 16 + 4 + 4)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(convs) == len(norms) == 6
    assert not any(conv.use_bias for conv in convs)


def test_aux_outputs_exist_only_with_aux_logits(tmp_path):
    size = AUX_MIN_SIZE
    model = zoo.build("googlenet", aux_logits=True, input_shape=(size, size, 3), num_classes=10)
    assert model.output_names == AUX_OUTPUTS
    batch = photos(size) / 255.0
    outputs = model(batch, training=False)
    assert [tuple(o.shape) for o in outputs] == [(4, 10)] * 3
    path = tmp_path / "googlenet_aux.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.output_names == AUX_OUTPUTS
    for got, want in zip(loaded(batch, training=False), outputs):
        np.testing.assert_allclose(got, want, atol=1e-5)

    stripped = strip_aux(model)
    assert stripped.output_names == ["predictions"]
    assert not any(layer.name.startswith("aux") for layer in stripped.layers)
    np.testing.assert_allclose(stripped(batch, training=False), outputs[0], atol=1e-6)

    plain = zoo.build("googlenet", input_shape=(size, size, 3), num_classes=10)
    assert plain.output_names == ["predictions"]
    assert not any(layer.name.startswith("aux") for layer in plain.layers)
    assert strip_aux(plain) is plain


def test_aux_logits_refuses_small_inputs_before_building(monkeypatch):
    small = AUX_MIN_SIZE - 1
    monkeypatch.setattr(keras.layers.Conv2D, "__init__",
                        lambda *a, **k: pytest.fail("a layer was built"))
    with pytest.raises(ValueError, match=fr"googlenet with aux_logits=True needs inputs of at "
                                         fr"least 65x65 .*got {small}x{small}"):
        zoo.build("googlenet", aux_logits=True, input_shape=(small, small, 3))


def test_aux_logits_without_classifier_builds_no_side_branches():
    model = zoo.build("googlenet", aux_logits=True, include_top=False, pooling="avg",
                      input_shape=(32, 32, 3))
    assert model.output.shape == (None, 1024)
    assert not any(layer.name.startswith("aux") for layer in model.layers)


def test_features_only_strides_and_channels():
    model = zoo.build("googlenet", features_only=True, aux_logits=True, input_shape=(64, 64, 3))
    assert [tuple(o.shape[1:]) for o in model.outputs] == [
        (32, 32, 64), (16, 16, 192), (8, 8, 480), (4, 4, 832), (2, 2, 1024)]


@FULL_SIZE_MODELS
def test_batch_norm_model_trains_with_the_registered_loss_weights():
    info = zoo.model_info("googlenet")
    assert info["loss_weights"] == (1.0, 0.3, 0.3)
    # The paper: about 1.5 billion multiply-adds at 224x224.
    assert 1.5e9 < info["flops"] / 2 < 1.65e9
    size = AUX_MIN_SIZE
    model = zoo.build("googlenet", aux_logits=True, batch_norm=True, num_classes=4,
                      input_shape=(size, size, 3))
    assert len(model.outputs) == len(info["loss_weights"])
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(conv.use_bias for conv in convs)
    batch = photos(size) / 255.0
    labels = np.arange(4)
    outputs = model(batch, training=True)
    assert all(np.isfinite(o).all() for o in outputs)
    bn = model.get_layer("conv1_bn")
    before = bn.moving_mean.numpy().copy()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # Eager: tracing the training graph of this deep model costs ~30 s on 2 cores.
    model.compile(optimizer="sgd", loss=[loss] * 3, loss_weights=list(info["loss_weights"]),
                  run_eagerly=True)
    logs = model.train_on_batch(batch, [labels] * 3, return_dict=True)
    per_output = [logs[f"{name}_loss"] for name in AUX_OUTPUTS]
    assert np.isfinite(per_output).all()
    np.testing.assert_allclose(logs["loss"], np.dot(info["loss_weights"], per_output), rtol=1e-5)
    assert not np.allclose(bn.moving_mean.numpy(), before)


@pytest.mark.slow
def test_strip_aux_keeps_the_paper_model():
    model = zoo.build("googlenet", aux_logits=True)
    assert model.count_params() == 13_378_280
    assert strip_aux(model).count_params() == 6_998_552


def test_one_inference_model_for_checkpoints_export_and_strip_aux():
    """zoo.inference_model drops the aux* side branches, shares the weights and
    holds no optimizer; export and strip_aux give the same graph."""
    import zoo
    from export.source import inference_model as export_inference

    model = zoo.build("googlenet", input_shape=(224, 224, 3), num_classes=5, aux_logits=True)
    model.optimizer = keras.optimizers.SGD()
    images = np.random.default_rng(0).uniform(0, 1, (2, 224, 224, 3)).astype("float32")
    main = model(images)[0]
    for stripped in (zoo.inference_model(model), strip_aux(model), export_inference(model)):
        assert len(stripped.outputs) == 1 and getattr(stripped, "optimizer", None) is None
        np.testing.assert_allclose(stripped(images), main, atol=1e-6)
    with pytest.raises(ValueError, match="every output is a side branch"):
        zoo.inference_model(keras.Model(model.inputs, model.outputs[1:]))
