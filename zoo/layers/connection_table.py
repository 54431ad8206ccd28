"""A convolution with a fixed connection table between input and output maps
(LeNet-5's C3, LeCun et al., 1998, table I)."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class ConnectionTableConv2D(keras.layers.Layer):
    """Conv2D in which output map j reads only the input maps `connections[j]`.

    Only connected kernels are weights: `kernel` has shape (kh, kw, pairs), one
    kh x kw kernel per (input, output) pair of the table, so count_params()
    counts only those (1,516 for LeNet-5's C3). call() scatters them into a
    dense (kh, kw, in, out) kernel through a constant 0/1 tensor built from the
    table in build(): disconnected maps add nothing to outputs or gradients.
    The initializer draws a dense kernel (the fans of the full conv) and keeps
    the connected entries, so a table and a full conv start alike.
    """

    def __init__(self, connections, kernel_size, strides=1, padding="valid", use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if (not connections or not all(isinstance(c, (tuple, list)) and c for c in connections)
                or not all(isinstance(i, int) and i >= 0 for c in connections for i in c)
                or any(len(set(c)) != len(c) for c in connections)):
            raise ValueError("ConnectionTableConv2D: connections must list, for each output map, "
                             f"the distinct input map indices it reads; got {connections!r}.")
        self.connections = tuple(tuple(c) for c in connections)
        self.filters = len(self.connections)
        self.kernel_size = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        self.strides = strides
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        pairs = [(i, j) for j, inputs in enumerate(self.connections) for i in inputs]
        if max(i for i, _ in pairs) >= channels:
            raise ValueError(f"{self.name}: the connection table reads input map "
                             f"{max(i for i, _ in pairs)} but the input has {channels} channels.")
        scatter = np.zeros((len(pairs), channels, self.filters), "float32")
        for pair, (i, j) in enumerate(pairs):
            scatter[pair, i, j] = 1.0
        self._scatter = scatter  # a constant, not a weight: never counted or trained
        dense_shape = (*self.kernel_size, channels, self.filters)

        def connected(shape, dtype=None):
            return ops.einsum("hwio,pio->hwp", self.kernel_initializer(dense_shape, dtype), scatter)

        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, len(pairs)),
                                      initializer=connected)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
                     if self.use_bias else None)

    def dense_kernel(self):
        """The (kh, kw, in, out) kernel, zero where the table has no connection."""
        return ops.einsum("hwp,pio->hwio", self.kernel, ops.cast(self._scatter, self.kernel.dtype))

    def call(self, inputs):
        kernel = ops.cast(self.dense_kernel(), inputs.dtype)
        outputs = ops.conv(inputs, kernel, strides=self.strides, padding=self.padding)
        return outputs if self.bias is None else outputs + ops.cast(self.bias, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "connections": [list(c) for c in self.connections],
                "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}
