"""Depthwise blocks of the mobile families: MobileNet v1's depthwise-separable
conv, MobileNetV2's inverted residual, squeeze-excite, EfficientNet's MBConv.

The blocks are shared; the layer names are not: each family passes the
suffixes keras.applications gives its layers, and each block creates its layers
in keras.applications' order, so published weight files load by order.
"""

from keras import layers

from zoo.layers.conv import conv_bn_act
from zoo.layers.rank import depthwise_conv, nd, spatial_dims


def make_divisible(value, divisor=8):
    """`value` rounded to a multiple of `divisor`, never below it nor 10% under
    `value`: MobileNetV2's `_make_divisible`, EfficientNet's `round_filters`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def correct_pad(x, kernel_size):
    """ZeroPadding amounts, one (before, after) pair per spatial axis, that make a
    stride-2 "valid" conv match TF's "same".

    keras.applications' `imagenet_utils.correct_pad`: one pixel less before
    (top/left) on even-sized axes; an unknown size counts as even.
    """
    half = kernel_size // 2
    pads = tuple((half - (1 if size is None else 1 - size % 2), half) for size in x.shape[1:-1])
    return pads[0] if len(pads) == 1 else pads


def depthwise_bn_act(x, kernel_size=3, strides=1, *, name, depth_multiplier=1,
                     activation="relu6", pad=None, bn_momentum=0.99,
                     suffixes=("_pad", "_dw", "_dw_bn", "_dw_act")):
    """Depthwise conv (no bias; any rank, see `rank.depthwise_conv`), BatchNormalization,
    activation.

    Strided convs are "valid" after an explicit ZeroPadding: `pad` amounts,
    or `correct_pad` by default. `suffixes` name the (pad, depthwise, bn,
    activation) layers.
    """
    pad_suffix, dw_suffix, bn_suffix, act_suffix = suffixes
    if strides != 1:
        x = nd(x).ZeroPadding(correct_pad(x, kernel_size) if pad is None else pad,
                              name=name + pad_suffix)(x)
    x = depthwise_conv(x, kernel_size, strides=strides, padding="same" if strides == 1 else "valid",
                       depth_multiplier=depth_multiplier, name=name + dw_suffix)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=name + bn_suffix)(x)
    return layers.Activation(activation, name=name + act_suffix)(x)


def depthwise_separable_block(x, filters, strides=1, *, block_id, depth_multiplier=1):
    """MobileNet v1: 3x3 depthwise-bn-relu6, then 1x1 pointwise-bn-relu6.

    Named as keras.applications.MobileNet (`conv_dw_<id>`, `conv_pw_<id>`);
    stride-2 inputs are padded (0, 1) on each axis whatever their size, as there.
    """
    dims = spatial_dims(x)
    x = depthwise_bn_act(x, 3, strides, name="conv", depth_multiplier=depth_multiplier,
                         pad=(0, 1) if dims == 1 else ((0, 1),) * dims,
                         suffixes=(f"_pad_{block_id}", f"_dw_{block_id}", f"_dw_{block_id}_bn",
                                   f"_dw_{block_id}_relu"))
    return conv_bn_act(x, filters, 1, activation="relu6", name=f"conv_pw_{block_id}",
                       suffixes=("", "_bn", "_relu"))


def squeeze_excite(x, filters_se, *, name, activation="swish"):
    """Squeeze-and-excitation (Hu et al.): channel gates from a global pool.

    Both 1x1 convs have a bias, as in keras.applications.EfficientNet.
    """
    filters = x.shape[-1]
    rank = nd(x)
    se = rank.GlobalAveragePooling(name=f"{name}_se_squeeze")(x)
    se = layers.Reshape((1,) * rank.dims + (filters,), name=f"{name}_se_reshape")(se)
    se = rank.Conv(filters_se, 1, padding="same", activation=activation, name=f"{name}_se_reduce")(se)
    se = rank.Conv(filters, 1, padding="same", activation="sigmoid", name=f"{name}_se_expand")(se)
    return layers.Multiply(name=f"{name}_se_excite")([x, se])


# Layer-name suffixes of an inverted residual, per keras.applications family:
# expand (conv, bn, act), depthwise (pad, conv, bn, act), project (conv, bn), drop, add.
MOBILENET_V2_SUFFIXES = {
    "expand": ("_expand", "_expand_BN", "_expand_relu"),
    "depthwise": ("_pad", "_depthwise", "_depthwise_BN", "_depthwise_relu"),
    "project": ("_project", "_project_BN", None),
    "drop": "_drop",
    "add": "_add",
}
EFFICIENTNET_SUFFIXES = {
    "expand": ("_expand_conv", "_expand_bn", "_expand_activation"),
    "depthwise": ("_dwconv_pad", "_dwconv", "_bn", "_activation"),
    "project": ("_project_conv", "_project_bn", None),
    "drop": "_drop",
    "add": "_add",
}


def inverted_residual(x, filters, kernel_size=3, strides=1, expansion=6, *, name,
                      activation="relu6", se_filters=0, drop_rate=0.0, bn_momentum=0.999,
                      suffixes=MOBILENET_V2_SUFFIXES):
    """Inverted residual (Sandler et al.): 1x1 expand, depthwise, 1x1 linear project.

    No expansion conv when `expansion` is 1; squeeze-excite when `se_filters`;
    the identity shortcut when shape allows, with stochastic depth
    (`drop_rate`, a per-sample Dropout) before the add. Defaults are
    MobileNetV2's (ReLU6, BN momentum 0.999).
    """
    inputs = x
    in_channels = x.shape[-1]
    if expansion != 1:
        x = conv_bn_act(x, expansion * in_channels, 1, activation=activation, bn_momentum=bn_momentum,
                        name=name, suffixes=suffixes["expand"])
    x = depthwise_bn_act(x, kernel_size, strides, name=name, activation=activation,
                         bn_momentum=bn_momentum, suffixes=suffixes["depthwise"])
    if se_filters:
        x = squeeze_excite(x, se_filters, name=name, activation=activation)
    x = conv_bn_act(x, filters, 1, activation=None, bn_momentum=bn_momentum, name=name,
                    suffixes=suffixes["project"])
    if strides != 1 or in_channels != filters:
        return x
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=name + suffixes["drop"])(x)
    return layers.Add(name=name + suffixes["add"])([x, inputs])


def mbconv(x, filters, kernel_size, strides, expansion, *, name, se_ratio=0.25, drop_rate=0.0,
           activation="swish"):
    """EfficientNet's MBConv: an inverted residual with squeeze-excite and swish.

    The squeeze width is `se_ratio` of the block's input channels; BN momentum
    0.99; named as keras.applications.EfficientNet (`block2a_expand_conv`, ...).
    """
    se_filters = max(1, int(x.shape[-1] * se_ratio)) if 0 < se_ratio <= 1 else 0
    return inverted_residual(x, filters, kernel_size, strides, expansion, name=name,
                             activation=activation, se_filters=se_filters, drop_rate=drop_rate,
                             bn_momentum=0.99, suffixes=EFFICIENTNET_SUFFIXES)
