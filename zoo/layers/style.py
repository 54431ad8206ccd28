"""The layers of image transformation networks (Johnson et al., 2016) that Keras lacks,
or lacks in a form TFLite runs well: reflection padding, instance normalisation,
nearest upsampling and the scaled-tanh pixel output."""

import keras
from keras import ops

# Ulyanov et al.'s epsilon (also PyTorch's InstanceNorm2d).
INSTANCE_NORM_EPSILON = 1e-5


def _pair(value, what):
    """(before, after) from an int or a pair of ints, each >= 0."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0
                                 for p in pair):
        raise ValueError(f"ReflectionPadding2D: {what} must be an int >= 0 or a pair of them; "
                         f"got {value!r}.")
    return pair


@keras.saving.register_keras_serializable(package="zoo")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by reflecting the image at its border, without repeating
    the edge pixel (numpy's and tf.pad's "reflect"): what Johnson et al.'s network pads
    with, so that the border is not a band of zeros the convolutions learn to see.

    `padding`: an int (all four sides), (rows, columns), or ((top, bottom), (left,
    right)), as keras.layers.ZeroPadding2D takes it. Each pad must be smaller than the
    size it pads (reflection has no more pixels to mirror). Converts to TFLite's
    MIRROR_PAD builtin.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        if not isinstance(padding, (tuple, list)) or len(padding) != 2:
            raise ValueError(f"ReflectionPadding2D: padding must be an int, (rows, columns) or "
                             f"((top, bottom), (left, right)); got {padding!r}.")
        self.padding = (_pair(padding[0], "the rows' padding"),
                        _pair(padding[1], "the columns' padding"))

    def build(self, input_shape):
        for axis, (before, after) in zip(("height", "width"), self.padding):
            size = input_shape[1 if axis == "height" else 2]
            if size is not None and max(before, after) >= size:
                raise ValueError(f"ReflectionPadding2D: padding {max(before, after)} needs a "
                                 f"{axis} above it; got input shape {tuple(input_shape)}.")

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0), *self.padding, (0, 0)), mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        (top, bottom), (left, right) = self.padding
        return (batch, None if height is None else height + top + bottom,
                None if width is None else width + left + right, channels)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="zoo")
class InstanceNormalization(keras.layers.GroupNormalization):
    """Instance normalisation (Ulyanov et al., 2016): each image's each channel
    normalised by its own mean and variance over height and width, then scaled and
    shifted by a learned gamma and beta per channel.

    That is keras' GroupNormalization with one group per channel (groups=-1), which
    this is, with the same weights and config; only `call` differs. GroupNormalization
    reshapes to (batch, height, width, groups, 1) with the shape read at run time,
    and TFLite runs that 5D mean ~40x slower than a mean over height and width of
    the 4D map (9.2 vs 0.21 ms at 64x64x128 on 2 XNNPACK threads, measured here): a
    style net's 15 norms cost more than its convs. Computed in float32 under a mixed
    policy, as GroupNormalization does.
    """

    def __init__(self, groups=-1, epsilon=INSTANCE_NORM_EPSILON, **kwargs):
        if groups != -1:
            raise ValueError(f"InstanceNormalization has one group per channel (groups=-1); "
                             f"got groups={groups!r}: use keras.layers.GroupNormalization.")
        super().__init__(groups=-1, epsilon=epsilon, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 4 or self.axis not in (-1, 3):
            raise ValueError(f"InstanceNormalization normalises (batch, height, width, "
                             f"channels) maps over height and width; got input shape "
                             f"{tuple(input_shape)} and axis={self.axis}.")
        super().build(input_shape)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
        x = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            x = x * ops.cast(self.gamma, "float32")
        if self.center:
            x = x + ops.cast(self.beta, "float32")
        return ops.cast(x, self.compute_dtype)

    def get_config(self):
        # GroupNormalization's build sets groups to the channel count: still one per channel.
        return {**super().get_config(), "groups": -1}


def instance_norm(name, epsilon=INSTANCE_NORM_EPSILON):
    """An InstanceNormalization layer named `name`."""
    return InstanceNormalization(epsilon=epsilon, name=name)


@keras.saving.register_keras_serializable(package="zoo")
class NearestUpSampling2D(keras.layers.UpSampling2D):
    """keras.layers.UpSampling2D(size, interpolation="nearest"), the same output,
    computed as a nearest-neighbour resize instead of two `repeat`s. The repeats
    convert to TFLite as SHAPE, TILE and RESHAPE ops, and in a style net they left
    the next conv as a Flex op (FlexConv2D, measured here); the resize converts to
    the one builtin RESIZE_NEAREST_NEIGHBOR, which XNNPACK runs."""

    def __init__(self, size=(2, 2), **kwargs):
        kwargs.pop("interpolation", None)  # from get_config: always nearest
        super().__init__(size=size, interpolation="nearest", **kwargs)

    def call(self, inputs):
        height, width = self.size
        shape = ops.shape(inputs)
        return ops.image.resize(inputs, (shape[1] * height, shape[2] * width),
                                interpolation="nearest")


@keras.saving.register_keras_serializable(package="zoo")
class PixelRange(keras.layers.Layer):
    """A scaled tanh onto pixels: low + (high - low) * (tanh(x) + 1) / 2, in (low, high).

    Johnson et al.'s output layer ("a scaled tanh to ensure that the output image has
    pixels in the range [0, 255]"). Chosen over a clipped linear output because a
    clip has zero gradient wherever it clips, so pixels pushed past 0 or 255 early in
    training stop learning; the tanh always passes a gradient and still never leaves
    the range, so the perceptual loss and a phone's display see valid pixels.
    """

    def __init__(self, low=0.0, high=255.0, **kwargs):
        super().__init__(**kwargs)
        if not float(low) < float(high):
            raise ValueError(f"PixelRange: low must be below high; got low={low!r}, high={high!r}.")
        self.low, self.high = float(low), float(high)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        return self.low + (self.high - self.low) * 0.5 * (ops.tanh(x) + 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}
