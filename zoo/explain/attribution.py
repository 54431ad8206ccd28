"""Which pixels a prediction used: occlusion, saliency, guided backprop, Grad-CAM.

Each takes one image (H, W, C) in the model's input range (0-255 for zoo
models) and a class. The score explained is the model's output for that
class: its logit (zoo models return logits), or for a segmentation model
(output (H', W', K)) the sum of the class's logits over `mask`, a boolean
(H', W') map of the pixels to explain (None: every pixel). Side branches
(GoogLeNet's aux outputs) are dropped first.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo.explain.receptive_field import is_spatial, layer_output
from zoo.inference import inference_model
from zoo.registry import get_entry, list_models


def _one_output(model):
    if len(model.outputs) == 1:
        return model
    kept = inference_model(model)
    if len(kept.outputs) != 1 or len(kept.inputs) != 1:
        raise ValueError(f"{model.name} has {len(kept.inputs)} inputs and {len(kept.outputs)} "
                         "outputs besides side branches; explain a model with one of each: "
                         "keras.Model(model.inputs[0], model.outputs[i]).")
    return keras.Model(kept.inputs[0], kept.outputs[0], name=model.name)


def _batch(model, image):
    """`image` as a batch of one float32 tensor, checked against the model's input."""
    image = np.asarray(image, dtype="float32")
    expected = tuple(model.inputs[0].shape)[1:]
    if image.ndim != 3 or any(e is not None and e != d for e, d in zip(expected, image.shape)):
        raise ValueError(f"{model.name} takes one image of shape {expected} (height, width, "
                         f"channels; None: any); got shape {image.shape}.")
    return tf.constant(image[None])


def _scorer(model, class_index, mask):
    """The function outputs -> per-image score, after checking class and mask."""
    shape = tuple(model.outputs[0].shape)
    classes = shape[-1]
    if not isinstance(class_index, (int, np.integer)) or not 0 <= class_index < classes:
        raise ValueError(f"class_index must be an int in [0, {classes}) for {model.name}'s "
                         f"{classes} classes; got {class_index!r}.")
    if len(shape) == 2:
        if mask is not None:
            raise ValueError(f"mask is for segmentation models (an (H, W, classes) output); "
                             f"{model.name} outputs {shape}.")
        return lambda outputs: outputs[:, class_index]
    if len(shape) != 4:
        raise ValueError(f"explain handles classification (batch, classes) and segmentation "
                         f"(batch, H, W, classes) outputs; {model.name} outputs {shape}.")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool or (shape[1] is not None and mask.shape != shape[1:3]):
            raise ValueError(f"mask must be a boolean array of the output's height and width "
                             f"{shape[1:3]}; got dtype {mask.dtype}, shape {mask.shape}.")
        weights = tf.constant(mask, dtype="float32")
        return lambda outputs: tf.reduce_sum(outputs[..., class_index] * weights, axis=(1, 2))
    return lambda outputs: tf.reduce_sum(outputs[..., class_index], axis=(1, 2))


def _input_gradient(model, image, class_index, mask):
    score = _scorer(model, class_index, mask)
    x = _batch(model, image)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(score(tf.cast(model(x, training=False), "float32")))
    return tape.gradient(total, x)[0].numpy()


def saliency(model, image, class_index, mask=None):
    """|d score / d pixel|, the largest over channels (Simonyan et al., 2014): (H, W)."""
    model = _one_output(model)
    return np.abs(_input_gradient(model, image, class_index, mask)).max(axis=-1)


# The guided rule of each activation (Springenberg et al., 2015): the gradient
# dy coming back passes only where it is positive and where the activation's
# input z is positive, times the activation's own slope there:
#   ReLU:  dy [dy > 0] [z > 0]
#   ReLU6: dy [dy > 0] [0 < z < 6]   (its slope is 0 once saturated)
#   swish: dy [dy > 0] [z > 0] swish'(z),  swish'(z) = s + z s (1 - s), s = sigmoid(z)
# Other activations (sigmoid gates, tanh, softmax) keep their ordinary gradient.
def _relu_slope(z):
    return tf.cast(z > 0, z.dtype)


def _relu6_slope(z):
    return tf.cast((z > 0) & (z < 6), z.dtype)


def _swish_slope(z):
    s = tf.sigmoid(z)
    return tf.cast(z > 0, z.dtype) * (s + z * s * (1 - s))


GUIDED = {
    "relu": (tf.nn.relu, _relu_slope),
    "relu6": (tf.nn.relu6, _relu6_slope),
    "swish": (tf.nn.silu, _swish_slope),
}


def guided(kind):
    """The activation `kind` ("relu", "relu6", "swish") with the guided gradient."""
    forward, slope = GUIDED[kind]

    @tf.custom_gradient
    def activation(z):
        def gradient(dy):
            return dy * tf.cast(dy > 0, dy.dtype) * slope(z)

        return forward(z), gradient

    return activation


def _guided_kind(layer):
    """"relu", "relu6" or "swish" if `layer` ends in one of them, else None."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope or layer.threshold:
            return None
        return {None: "relu", 6.0: "relu6"}.get(None if layer.max_value is None else float(layer.max_value))
    activation = getattr(layer, "activation", None)
    return {keras.activations.relu: "relu", keras.activations.relu6: "relu6",
            keras.activations.silu: "swish"}.get(activation)


class GuidedActivation(keras.layers.Layer):
    """An activation layer with the guided gradient (never saved: lives in the
    temporary clone that `guided_backprop` differentiates)."""

    def __init__(self, kind, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def call(self, inputs):
        return guided(self.kind)(inputs)


def _guided_clone(model):
    """A copy of `model` (same weights) whose ReLU, ReLU6 and swish activations
    have the guided gradient; `model` itself is not touched."""
    def clone(layer):
        kind = _guided_kind(layer)
        if kind is not None and isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            return GuidedActivation(kind, name=layer.name)
        copy = layer.__class__.from_config(layer.get_config())
        if kind is not None:  # a convolution or dense layer with the activation fused in
            copy.activation = guided(kind)
        return copy

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def guided_backprop(model, image, class_index, mask=None):
    """The guided gradient d score / d pixel (Springenberg et al., 2015), signed:
    (H, W, C). See GUIDED for the rule of ReLU, ReLU6 and swish."""
    model = _one_output(model)
    return _input_gradient(_guided_clone(model), image, class_index, mask)


def zoo_entry(model):
    """The registry entry of a zoo model (by its name), else None."""
    return get_entry(model.name) if model.name in list_models() else None


def last_feature_map(model):
    """The layer Grad-CAM reads by default: for a zoo model, the last layer
    whose output has the channels of its deepest `features_only` map (e.g.
    resnet18's conv5_block2_out); otherwise, or if none matches, the last
    layer whose output is a spatial map (4-D, not after global pooling) and
    not the model's output (for a U-Net the
    full-resolution up0_conv2_relu: pass layer="bottleneck_conv2_relu" for
    the coarse map of Seg-Grad-CAM)."""
    outputs, known = {id(t) for t in model.outputs}, {}
    maps = [layer for layer in model.layers
            if len(layer._inbound_nodes) == 1 and id(layer.output) not in outputs
            and not isinstance(layer, keras.layers.InputLayer) and is_spatial(layer.output, known)]
    if not maps:
        raise ValueError(f"{model.name} has no 4-D feature map to explain with Grad-CAM.")
    entry = zoo_entry(model)
    if entry is not None and entry.features:
        channels = entry.features[-1][1]
        matching = [layer for layer in maps if layer.output.shape[-1] == channels]
        if matching:
            return matching[-1]
    return maps[-1]


def grad_cam(model, image, class_index, layer=None, mask=None):
    """Grad-CAM (Selvaraju et al., 2017): ReLU(sum_k alpha_k A^k), A^k the
    feature maps of `layer` (default: `last_feature_map(model)`) and alpha_k
    the mean over the map of d score / d A^k. (h, w), the map's resolution;
    `pictures.overlay` stretches it over the image."""
    model = _one_output(model)
    layer = last_feature_map(model) if layer is None else layer
    features = layer_output(model, layer)
    if len(features.shape) != 4:
        raise ValueError(f"Grad-CAM needs a layer with a 4-D (batch, h, w, channels) output; "
                         f"{getattr(layer, 'name', layer)!r} outputs {tuple(features.shape)}.")
    both = keras.Model(model.input, [features, model.outputs[0]])
    score = _scorer(model, class_index, mask)
    with tf.GradientTape() as tape:
        maps, outputs = both(_batch(model, image), training=False)
        total = tf.reduce_sum(score(tf.cast(outputs, "float32")))
    gradients = tape.gradient(total, maps)
    # float32: under a mixed policy the maps and their gradients are bfloat16 or float16
    maps, gradients = tf.cast(maps, "float32"), tf.cast(gradients, "float32")
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[0].numpy()


def _fill_value(model, image):
    entry = zoo_entry(model)
    return float(np.mean(entry.input_range)) if entry is not None else float(np.mean(image))


def occlusion(model, image, class_index, window=8, stride=4, fill=None, mask=None, batch_size=64):
    """The drop in the class score as a `window` x `window` patch of `fill`
    (default: grey, the middle of a zoo model's input range, else the image's
    mean) slides over the image (Zeiler and Fergus, 2014).

    Returns (ceil(H / stride), ceil(W / stride)): cell (i, j) is the drop with
    the patch centred on the image area [i * stride, (i + 1) * stride) x [j *
    stride, (j + 1) * stride) (clipped at the borders), so the map covers the
    image exactly, `stride` pixels a cell.
    """
    model = _one_output(model)
    x = _batch(model, image).numpy()
    for argument, value in (("window", window), ("stride", stride)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument} must be a positive int; got {value!r}.")
    if window < stride:
        raise ValueError(f"window ({window}) must be at least stride ({stride}), or pixels "
                         "between windows are never occluded.")
    fill = _fill_value(model, x) if fill is None else fill
    score = _scorer(model, class_index, mask)
    height, width = x.shape[1:3]
    rows, columns = -(-height // stride), -(-width // stride)
    start = (stride - window) // 2  # centres the window on its cell

    def occluded(indices):
        batch = np.repeat(x, len(indices), axis=0)
        for image, index in zip(batch, indices):
            top, left = (index // columns) * stride + start, (index % columns) * stride + start
            image[max(top, 0):top + window, max(left, 0):left + window] = fill
        return batch

    def scores(batch):
        return score(tf.cast(model(batch, training=False), "float32")).numpy()

    base, cells = scores(x)[0], np.arange(rows * columns)
    drops = [base - scores(occluded(cells[i:i + batch_size]))
             for i in range(0, len(cells), batch_size)]
    return np.concatenate(drops).reshape(rows, columns)
