"""The receptive field of a layer: which input pixels each unit of its map sees.

Per axis, unit i of a map sees input pixels [offset + i * stride,
offset + i * stride + size); offset < 0 reaches into the padding. It is
computed from the layers' kernels, strides, dilations and padding, walking
the model's graph from its input to the layer:

    a layer with kernel k, stride s, dilation d and padding p before the map
    size   += (k - 1) * d * stride
    offset -= p * stride
    stride *= s

Branches that meet (Add, Concatenate, Multiply) see the union of their
fields. Squeeze-and-excitation gates, which come through global pooling and
see the whole image, are left out: they scale a unit without moving its window.
"""

import dataclasses

import keras
import numpy as np

from zoo import layers as zl
from zoo.utils import did_you_mean

# Layers that map each pixel to the pixel at the same place (channels mix freely).
POINTWISE = (
    keras.layers.InputLayer, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax, keras.layers.BatchNormalization,
    keras.layers.LayerNormalization, keras.layers.Dropout, keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.Rescaling,
    keras.layers.Normalization, keras.layers.Identity,
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
    keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate,
    zl.Preprocess, zl.LocalResponseNormalization,
)
# Layers whose output depends on the whole map.
GLOBAL = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Flatten)
# Layers that upsample: a unit has no single stride in the input.
UPSAMPLING = (keras.layers.Conv2DTranspose, keras.layers.UpSampling2D)

_WHOLE_IMAGE = "whole image"  # the field of a tensor that has seen every pixel


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """(rows, columns) pairs: unit (i, j) sees input rows offset[0] + i * stride[0]
    ... + size[0] - 1 and the same for columns."""

    size: tuple
    stride: tuple
    offset: tuple

    def box(self, row, column):
        """(top, left, bottom, right) of unit (row, column)'s field in input
        pixels, bottom and right exclusive; may reach outside the image."""
        top = self.offset[0] + row * self.stride[0]
        left = self.offset[1] + column * self.stride[1]
        return top, left, top + self.size[0], left + self.size[1]

    def crop(self, image, row, column, fill=0):
        """The (size[0], size[1], C) part of `image` that unit (row, column)
        sees, `fill` where the field reaches outside the image."""
        top, left, bottom, right = self.box(row, column)
        height, width = image.shape[:2]
        patch = np.full((*self.size, image.shape[2]), fill, dtype=image.dtype)
        rows = slice(max(top, 0), min(bottom, height))
        columns = slice(max(left, 0), min(right, width))
        patch[rows.start - top:rows.stop - top, columns.start - left:columns.stop - left] = \
            image[rows, columns]
        return patch


def layer_output(model, layer):
    """The output tensor of `layer` (a name or a layer of `model`)."""
    if isinstance(layer, str):
        names = [candidate.name for candidate in model.layers]
        if layer not in names:
            raise ValueError(f"{model.name} has no layer named {layer!r}.{did_you_mean(layer, names)}")
        layer = model.get_layer(layer)
    elif not isinstance(layer, keras.layers.Layer) or layer not in model.layers:
        raise ValueError(f"layer must be the name of a layer of {model.name} or one of its "
                         f"layers; got {layer!r}.")
    if len(layer._inbound_nodes) != 1:
        raise ValueError(f"Layer {layer.name!r} is called {len(layer._inbound_nodes)} times in "
                         f"{model.name}: its output is ambiguous; choose a layer called once.")
    return layer.output


def receptive_field(model, layer):
    """The `ReceptiveField` (size, stride, offset, per axis) of the units of
    `layer` (a name or a layer) in `model`'s input pixels.

    "same" padding is TensorFlow's: max((ceil(n / s) - 1) * s + (k - 1) * d
    + 1 - n, 0) in all, the smaller half before, which depends on the map
    size n: at an unknown input size, sizes divisible by the strides are assumed. Raises ValueError for a layer after
    global pooling or flattening (it sees the whole image), after upsampling
    (no single stride), or after a layer whose geometry it does not know.
    """
    field = _fields(layer_output(model, layer))
    if field is _WHOLE_IMAGE:
        raise ValueError(f"The units of layer {getattr(layer, 'name', layer)!r} see the whole "
                         "image (it comes after global pooling or flattening): it has no "
                         "receptive field to crop; choose a convolutional or pooling layer.")
    return field


def _producer(tensor):
    """The layer that made `tensor` and the tensors it was called on."""
    history = tensor._keras_history
    node = history.operation._inbound_nodes[history.node_index]
    return history.operation, list(node.input_tensors)


def _walk(target, step, known=None):
    """`step(layer, inputs, their values, output)` applied from the model's
    inputs to `target`, without recursion (deep models have paths of hundreds
    of layers); `known` (id -> value) is filled in and may be shared between walks."""
    known, stack = {} if known is None else known, [target]
    while stack:
        tensor = stack[-1]
        if id(tensor) in known:
            stack.pop()
            continue
        layer, inputs = _producer(tensor)
        missing = [x for x in inputs if id(x) not in known]
        if missing:
            stack.extend(missing)
            continue
        known[id(tensor)] = step(layer, inputs, [known[id(x)] for x in inputs], tensor)
        stack.pop()
    return known[id(target)]


def _fields(target):
    return _walk(target, _step)


def _sees_whole_image(layer, inputs, flags, output):
    return isinstance(layer, GLOBAL) or len(output.shape) != 4 or (bool(inputs) and all(flags))


def is_spatial(tensor, known=None):
    """Whether `tensor` is a map whose units see part of the image: 4-D and not
    after global pooling or flattening (MobileNet's 1x1 head map is not)."""
    return not _walk(tensor, _sees_whole_image, known)


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _same_padding(n, kernel, stride, dilation):
    """The padding TensorFlow puts before an axis of size n for "same"."""
    span = (kernel - 1) * dilation + 1
    total = max(span - stride, 0) if n is None else max((-(-n // stride) - 1) * stride + span - n, 0)
    return total // 2


def _window(field, spatial, kernel, strides, dilation, padding):
    """A sliding window (convolution or pooling) applied to `field`."""
    size, stride, offset = [], [], []
    for axis in range(2):
        k, s, d = kernel[axis], strides[axis], dilation[axis]
        before = _same_padding(spatial[axis], k, s, d) if padding == "same" else 0
        size.append(field.size[axis] + (k - 1) * d * field.stride[axis])
        offset.append(field.offset[axis] - before * field.stride[axis])
        stride.append(field.stride[axis] * s)
    return ReceptiveField(tuple(size), tuple(stride), tuple(offset))


def _shift(field, before):
    """Rows and columns added (positive, ZeroPadding2D) or cut (negative, Cropping2D) before the map."""
    return ReceptiveField(field.size, field.stride,
                          tuple(o - b * s for o, b, s in zip(field.offset, before, field.stride)))


def _union(layer, fields):
    spatial = [f for f in fields if f is not _WHOLE_IMAGE]
    if not spatial:
        return _WHOLE_IMAGE
    if len({f.stride for f in spatial}) > 1:
        raise ValueError(f"Layer {layer.name!r} joins maps of different strides "
                         f"{sorted({f.stride for f in spatial})}: no single receptive field.")
    start = np.min([f.offset for f in spatial], axis=0)
    end = np.max([np.add(f.offset, f.size) for f in spatial], axis=0)
    return ReceptiveField(tuple(int(v) for v in end - start), spatial[0].stride,
                          tuple(int(v) for v in start))


def _step(layer, inputs, fields, output):
    if isinstance(layer, keras.layers.InputLayer) or not inputs:
        return ReceptiveField((1, 1), (1, 1), (0, 0))
    if isinstance(layer, GLOBAL) or len(output.shape) != 4 or all(f is _WHOLE_IMAGE for f in fields):
        return _WHOLE_IMAGE
    if isinstance(layer, UPSAMPLING):
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) upsamples: the units "
                         "after it have no single stride in the input; choose a layer before it.")
    field = _union(layer, fields)
    if isinstance(layer, POINTWISE):
        return field
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return _shift(field, [before for before, _ in layer.padding])
    if isinstance(layer, keras.layers.Cropping2D):
        return _shift(field, [-before for before, _ in layer.cropping])
    spatial = tuple(inputs[0].shape)[1:3]
    if hasattr(layer, "kernel_size") and hasattr(layer, "strides"):  # convolutions
        return _window(field, spatial, _pair(layer.kernel_size), _pair(layer.strides),
                       _pair(getattr(layer, "dilation_rate", 1)), layer.padding)
    if hasattr(layer, "pool_size"):
        return _window(field, spatial, _pair(layer.pool_size), _pair(layer.strides or layer.pool_size),
                       (1, 1), layer.padding)
    raise ValueError(f"receptive_field does not know how layer {layer.name!r} "
                     f"({type(layer).__name__}) moves pixels: it knows convolutions, pooling, "
                     "ZeroPadding2D, Cropping2D and pointwise layers "
                     f"({', '.join(sorted({c.__name__ for c in POINTWISE}))}).")
