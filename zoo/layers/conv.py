"""The one conv-bn-act every family builds with."""

from keras import layers

from zoo.layers.rank import nd


def conv_bn_act(x, filters, kernel_size, strides=1, *, name, padding="same",
                use_bias=False, groups=1, activation="relu", batch_norm=True,
                bn_epsilon=1e-3, bn_momentum=0.99, suffixes=None):
    """Conv (1D, 2D or 3D, as `x`), then BatchNormalization, then an activation;
    each optional but the conv.

    Layers are named `name + suffix`, by default `_conv`, `_bn` and
    `_<activation>` (ResNet's `conv1_conv`, `conv1_bn`, `conv1_relu`); families
    whose anchor names them otherwise pass their own `suffixes`.
    """
    conv_suffix, bn_suffix, act_suffix = suffixes or ("_conv", "_bn", f"_{activation}")
    x = nd(x).Conv(filters, kernel_size, strides=strides, padding=padding,
                   use_bias=use_bias, groups=groups, name=name + conv_suffix)(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum,
                                      name=name + bn_suffix)(x)
    if activation:
        x = layers.Activation(activation, name=name + act_suffix)(x)
    return x


