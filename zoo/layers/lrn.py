"""Local response normalization (Krizhevsky et al., 2012, section 3.3)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's LRN across channels, with the paper's constants by default.

        b_i = a_i / (k + alpha * sum_{j = i - n//2}^{i + n//2} a_j ** 2) ** beta

    `alpha` multiplies the plain sum over the `size` = n neighbouring channels,
    as in the paper; that is also tf.nn.local_response_normalization's `alpha`
    (with depth_radius = n // 2), so it is passed through unchanged. Caffe and
    PyTorch divide their alpha by n: their alpha=1e-4 with n=5 is alpha=2e-5 here.
    The fused TF op also converts to TFLite's builtin LOCAL_RESPONSE_NORMALIZATION.
    """

    def __init__(self, size=5, k=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"LocalResponseNormalization: size must be an odd positive int "
                             f"(channels summed over, centred); got {size!r}.")
        self.size, self.k, self.alpha, self.beta = size, float(k), float(alpha), float(beta)

    def call(self, inputs):
        return tf.nn.local_response_normalization(inputs, depth_radius=self.size // 2, bias=self.k,
                                                  alpha=self.alpha, beta=self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "k": self.k,
                "alpha": self.alpha, "beta": self.beta}
