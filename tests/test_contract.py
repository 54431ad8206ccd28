"""Training contracts over every registered model (as timm's and keras-hub's tests
do; the similarity models: tests/test_similarity.py), each built at its smallest valid
input so that a model takes a second or two:

- one backward pass gives every trainable weight a finite, non-zero gradient;
- under the mixed_bfloat16 policy the outputs (the logits the loss is computed
  from) and all the variables are float32.

That `features_only` gives the declared maps is tests/test_registry.py's
`test_features_only_maps_are_the_declared_ones`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_registry import CLASS_SCORES, small_shape

import zoo
from zoo.inception import AUX_MIN_SIZE

NUM_CLASSES = 3
BATCH = 2

# Multi-output models (an entry with loss_weights): the build arguments that add
# their side branches, and the smallest input those branches take.
SIDE_BRANCHES = {"googlenet": (dict(aux_logits=True), AUX_MIN_SIZE)}


def contract_build(name, **kwargs):
    """Model `name` at its smallest valid input, NUM_CLASSES outputs, side branches on."""
    entry = zoo.get_entry(name)
    min_size = entry.min_size
    if entry.loss_weights is not None:
        assert name in SIDE_BRANCHES, f"{name} has loss_weights: add how to build its side branches"
        side_kwargs, min_size = SIDE_BRANCHES[name]
        kwargs = {**side_kwargs, **kwargs}
    height, width, channels = small_shape(name)
    shape = (max(height, min_size), max(width, min_size), channels)
    model = zoo.build(name, input_shape=shape, num_classes=NUM_CLASSES, **kwargs)
    if entry.loss_weights is not None:
        assert len(model.outputs) == len(entry.loss_weights)
    return model, shape


def random_batch(model, name, shape, seed=0):
    """Images uniform over the model's input range, and a random class label for
    each vector of the main output (per image, per pixel, per grid cell and anchor)."""
    low, high = zoo.get_entry(name).input_range
    rng = np.random.default_rng(seed)
    images = rng.uniform(low, high, size=(BATCH, *shape)).astype("float32")
    label_shape = (BATCH, *model.outputs[0].shape[1:-1])
    labels = rng.integers(0, NUM_CLASSES, size=label_shape)
    return tf.constant(images), tf.constant(labels)


def gradients(model, images, labels, training):
    """The gradients of every trainable weight, for the summed cross-entropy of every
    output (the side branches' included)."""
    with tf.GradientTape() as tape:
        outputs = model(images, training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        loss = tf.add_n([tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            labels, tf.cast(output, tf.float32), from_logits=True)) for output in outputs])
    assert np.isfinite(loss.numpy())
    grads = tape.gradient(loss, model.trainable_weights)
    return [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]


def bn_betas(model):
    return {layer.beta.path for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.center}


@pytest.mark.parametrize("name", CLASS_SCORES)
def test_one_backward_pass_reaches_every_trainable_weight(name):
    # Stochastic depth off: it drops a residual branch per sample, so with a batch
    # of 2 it drops a whole block with probability rate**2, whose weights then
    # rightly get no gradient (at seed 0: all 13 weights of efficientnet_b3's block6e).
    # Element-wise dropout stays on.
    no_drop_path = {"drop_connect_rate": 0.0} if "drop_connect_rate" in zoo.get_entry(name).family_args() else {}
    model, shape = contract_build(name, **no_drop_path)
    images, labels = random_batch(model, name, shape)
    keras.utils.set_random_seed(0)  # dropout is on (training=True)
    weights = model.trainable_weights
    grads = gradients(model, images, labels, training=True)
    bad, zero_betas = [], []
    for weight, grad in zip(weights, grads):
        if grad is None:
            bad.append(f"{weight.path}: None")
        elif not np.isfinite(grad).all():
            bad.append(f"{weight.path}: {grad.size - np.isfinite(grad).sum()} non-finite of {grad.size}")
        elif not grad.any():
            (zero_betas if weight.path in bn_betas(model) else bad).append(f"{weight.path}: all zero {grad.shape}")
    # A BatchNorm beta whose output reaches the loss only through linear 1x1 convs
    # each followed by a BatchNorm (MobileNetV2's and EfficientNet's linear-bottleneck
    # project_bn, through the residual adds) has an exactly zero gradient in training
    # mode: the shift it adds is removed by the next BatchNorm's batch mean. In float
    # arithmetic that is rounding noise (~1e-7 against a median max |grad| of ~1e1 at
    # 32x32), or an exact 0 on mobilenet_v2's 1x1 maps with a batch of 2 (block_13..16
    # project_BN/beta). Those must be wired in: non-zero in inference mode, where the
    # BatchNorms use their moving statistics.
    if zero_betas:
        inference = dict(zip((w.path for w in weights), gradients(model, images, labels, training=False)))
        for entry in zero_betas:
            path = entry.split(":")[0]
            if not np.isfinite(inference[path]).all() or not inference[path].any():
                bad.append(f"{entry}, and in inference mode too")
    assert not bad, f"{name}: {len(bad)} of {len(weights)} trainable weights:\n" + "\n".join(bad)


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", CLASS_SCORES)
def test_mixed_bfloat16_outputs_and_variables_are_float32(name, mixed_bfloat16):
    model, _ = contract_build(name)
    # The logits must come out of a float32 layer so the loss is computed in float32.
    # (A functional model's symbolic output dtypes are those of its calls: no forward pass.)
    outputs = [(o._keras_history.operation.name, str(o.dtype)) for o in model.outputs]
    # Integer state is exempt: Dropout's seed_generator_state, Normalization's count (int64).
    variables = [(v.path, v.dtype) for v in model.variables
                 if keras.backend.is_float_dtype(v.dtype) and v.dtype != "float32"]
    assert all(dtype == "float32" for _, dtype in outputs) and not variables, \
        f"{name}: outputs (layer, dtype) {outputs}; variables not float32: {variables}"
