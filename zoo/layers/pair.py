"""The features a Siamese network compares two embeddings by."""

import keras
from keras import ops

# A denominator floor for "chi2": where both components are 0 the feature is 0, not 0/0.
CHI2_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="zoo")
class PairFeatures(keras.layers.Layer):
    """Element-wise features of two embeddings `[f1, f2]`, symmetric in the two:

    - "abs": |f1 - f2| (Koch et al., 2015; Taigman et al., DeepFace, 2014);
    - "chi2": (f1 - f2)^2 / (|f1| + |f2| + eps), DeepFace's chi-square form.

    DeepFace's features were non-negative (ReLU outputs), where |f1| + |f2| is
    its f1 + f2. L2-normalised embeddings have negative components, where f1 + f2
    can be 0 or change sign; with |f1| + |f2| the feature stays finite, >= 0 and
    at most |f1 - f2|.
    """

    MODES = ("abs", "chi2")

    def __init__(self, mode="abs", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"PairFeatures: mode must be one of {', '.join(map(repr, self.MODES))}; "
                             f"got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        first, second = (ops.cast(x, self.compute_dtype) for x in inputs)
        if self.mode == "abs":
            return ops.abs(first - second)
        return ops.square(first - second) / (ops.abs(first) + ops.abs(second) + CHI2_EPSILON)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
