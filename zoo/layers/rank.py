"""The Keras layers of each spatial rank: 1D signals, 2D images, 3D volumes and clips.

Blocks ask `nd(x)` for the layer classes that fit their input tensor, so one
builder makes every rank; in 2D these are exactly the layers (and names) the
families have always built. Keras has no DepthwiseConv3D: `depthwise_conv`
makes it as a grouped Conv3D (one group per input channel), the same operation.
"""

import dataclasses

from keras import layers


@dataclasses.dataclass(frozen=True)
class Rank:
    """The layer classes of one spatial rank (`dims` spatial axes)."""

    dims: int
    Conv: type
    ConvTranspose: type
    DepthwiseConv: type | None  # None: a grouped Conv (3D)
    MaxPooling: type
    AveragePooling: type
    GlobalAveragePooling: type
    GlobalMaxPooling: type
    ZeroPadding: type
    UpSampling: type


RANKS = {
    1: Rank(1, layers.Conv1D, layers.Conv1DTranspose, layers.DepthwiseConv1D,
            layers.MaxPooling1D, layers.AveragePooling1D, layers.GlobalAveragePooling1D,
            layers.GlobalMaxPooling1D, layers.ZeroPadding1D, layers.UpSampling1D),
    2: Rank(2, layers.Conv2D, layers.Conv2DTranspose, layers.DepthwiseConv2D,
            layers.MaxPooling2D, layers.AveragePooling2D, layers.GlobalAveragePooling2D,
            layers.GlobalMaxPooling2D, layers.ZeroPadding2D, layers.UpSampling2D),
    3: Rank(3, layers.Conv3D, layers.Conv3DTranspose, None,
            layers.MaxPooling3D, layers.AveragePooling3D, layers.GlobalAveragePooling3D,
            layers.GlobalMaxPooling3D, layers.ZeroPadding3D, layers.UpSampling3D),
}


def spatial_dims(x):
    """The number of spatial axes of a (batch, *spatial, channels) tensor."""
    return len(x.shape) - 2


def nd(x):
    """The Rank whose layers take tensor `x`."""
    dims = spatial_dims(x)
    if dims not in RANKS:
        raise ValueError(f"Expected a tensor with 1, 2 or 3 spatial axes (batch, *spatial, "
                         f"channels); got shape {tuple(x.shape)}.")
    return RANKS[dims]


def depthwise_conv(x, kernel_size, *, strides=1, padding="valid", use_bias=False,
                   depth_multiplier=1, name):
    """A depthwise convolution of `x` in its own rank; in 3D a grouped Conv3D
    with `groups` = channels, whose kernel is (k, k, k, 1, channels * multiplier)."""
    rank = nd(x)
    if rank.DepthwiseConv is not None:
        return rank.DepthwiseConv(kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                                  depth_multiplier=depth_multiplier, name=name)(x)
    channels = x.shape[-1]
    return rank.Conv(channels * depth_multiplier, kernel_size, strides=strides, padding=padding,
                     use_bias=use_bias, groups=channels, name=name)(x)
