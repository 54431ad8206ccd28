"""Input normalisation inside the model: every zoo model takes 0-255 pixels."""

import keras
from keras import ops

# mode: (scale, offset, flip_channels); output = flip(x) * scale + offset, with
# `offset` a scalar or one value per (flipped) channel.
MODES = {
    # keras.applications' caffe preprocess_input (ResNet50/101/152, VGG16/19):
    # RGB -> BGR, then subtract the ImageNet BGR mean.
    "caffe": (1.0, (-103.939, -116.779, -123.68), True),
    # keras.applications' tf preprocess_input (MobileNet, MobileNetV2): [-1, 1].
    "tf": (1.0 / 127.5, -1.0, False),
    # [0, 1]: the models trained from scratch here.
    "unit": (1.0 / 255.0, 0.0, False),
}


@keras.saving.register_keras_serializable(package="zoo")
class Preprocess(keras.layers.Layer):
    """0-255 RGB (or grey) pixels -> the model's input convention `mode` (see MODES).

    No weights, so keras.applications' weight order is unchanged. In "caffe"
    mode an input that is not RGB (grey, 4 channels) is not flipped and has the
    mean of the three channel means subtracted.
    """

    def __init__(self, mode="unit", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Preprocess: mode must be one of {', '.join(map(repr, MODES))}; "
                             f"got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        scale, offset, flip = MODES[self.mode]
        x = ops.cast(inputs, self.compute_dtype)  # uint8 pixels are not cast by Keras
        rgb = x.shape[-1] == 3
        if flip and rgb:
            x = ops.flip(x, axis=-1)
        if isinstance(offset, tuple):
            # One value per RGB channel; any other count (grey, RGBA, ...) gets their mean.
            offset = offset if rgb else sum(offset) / len(offset)
            offset = ops.convert_to_tensor(offset, dtype=self.compute_dtype)
        return x * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
