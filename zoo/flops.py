"""FLOPs of a built model, counted from its layers (2 FLOPs per multiply-add)."""

import math

from keras import layers


def _spatial(shape):
    return math.prod(d for d in shape[1:-1])


def _layer_flops(layer):
    """Multiply-adds x 2 of the convolutions and dense layers; other layers are free."""
    if isinstance(layer, layers.DepthwiseConv2D):
        kernel = math.prod(layer.kernel.shape)
        return 2 * _spatial(layer.output.shape) * kernel
    if isinstance(layer, layers.Conv2DTranspose):
        return 2 * _spatial(layer.input.shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        return 2 * _spatial(layer.output.shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.Dense):
        return 2 * math.prod(layer.output.shape[1:-1]) * math.prod(layer.kernel.shape)
    if hasattr(layer, "layers"):
        # A nested model, once per call: a Siamese network runs its shared embedding twice.
        return max(1, len(layer._inbound_nodes)) * sum(_layer_flops(inner) for inner in layer.layers)
    return 0


def count_flops(model):
    """FLOPs of one forward pass of one example through `model`."""
    return int(sum(_layer_flops(layer) for layer in model.layers))
