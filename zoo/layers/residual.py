"""Residual blocks (He et al., 2015), named as keras.applications names them.

Both blocks take `projection`: a 1x1 conv + BN on the shortcut (the first block
of a stage) instead of the identity. The shortcut is built first so that the
layer order, and so the weight order, is keras.applications' own.
"""

from keras import layers

from zoo.layers.conv import conv_bn_act


def _shortcut(x, filters, strides, projection, use_bias, bn_epsilon, name):
    if not projection:
        return x
    return conv_bn_act(x, filters, 1, strides, use_bias=use_bias, activation=None,
                       bn_epsilon=bn_epsilon, name=f"{name}_0")


def _merge(shortcut, x, name):
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def basic_block(x, filters, strides=1, *, projection=False, use_bias=False,
                bn_epsilon=1.001e-5, name):
    """Two 3x3 convs (ResNet-18/34); the first carries the stride."""
    shortcut = _shortcut(x, filters, strides, projection, use_bias, bn_epsilon, name)
    x = conv_bn_act(x, filters, 3, strides, use_bias=use_bias, bn_epsilon=bn_epsilon, name=f"{name}_1")
    x = conv_bn_act(x, filters, 3, use_bias=use_bias, activation=None, bn_epsilon=bn_epsilon,
                    name=f"{name}_2")
    return _merge(shortcut, x, name)


def bottleneck_block(x, filters, strides=1, *, projection=False, use_bias=True,
                     bn_epsilon=1.001e-5, expansion=4, name):
    """1x1 reduce, 3x3, 1x1 expand by `expansion` (ResNet-50/101/152).

    The stride sits on the first 1x1 conv, as in keras.applications' ResNet v1.
    """
    shortcut = _shortcut(x, expansion * filters, strides, projection, use_bias, bn_epsilon, name)
    x = conv_bn_act(x, filters, 1, strides, use_bias=use_bias, bn_epsilon=bn_epsilon, name=f"{name}_1")
    x = conv_bn_act(x, filters, 3, use_bias=use_bias, bn_epsilon=bn_epsilon, name=f"{name}_2")
    x = conv_bn_act(x, expansion * filters, 1, use_bias=use_bias, activation=None,
                    bn_epsilon=bn_epsilon, name=f"{name}_3")
    return _merge(shortcut, x, name)
