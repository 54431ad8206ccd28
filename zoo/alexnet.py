"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012), the paper's layout.

227x227x3 input, five convolutions 96-256-384-384-256 (conv1 11x11/4 valid),
ReLU after every layer, local response normalization after conv1 and conv2
(k=2, n=5, alpha=1e-4, beta=0.75), overlapping 3x3/2 max pools after them and
after conv5, then fc6 and fc7 of 4096 units with dropout 0.5. conv2, conv4 and
conv5 only see the maps of their own GPU in the paper: Conv2D `groups=2`
(`groups=1` gives the one-tower network). 60,965,224 params at 1000 classes.
"""

import functools
import math

from keras import layers

from zoo import layers as zl
from zoo.registry import register_model

PAPER = ("Krizhevsky, Sutskever and Hinton, ImageNet Classification with Deep "
         "Convolutional Neural Networks, NeurIPS 2012")

# filters, kernel, stride, padding, split into the towers, LRN after, max pool after
ALEXNET = (
    (96, 11, 4, "valid", False, True, True),
    (256, 5, 1, "same", True, True, True),
    (384, 3, 1, "same", False, False, False),
    (384, 3, 1, "same", True, False, False),
    (256, 3, 1, "same", True, False, True),
)
FC_UNITS = 4096
HIDDEN = (("fc6", FC_UNITS), ("fc7", FC_UNITS))  # the fully connected layers before the logits
LRN = dict(size=5, k=2.0, alpha=1e-4, beta=0.75)


def _check_groups(config, groups):
    """`groups` must divide the input and output maps of every split conv."""
    split = [(config[i - 1][0], row[0]) for i, row in enumerate(config) if row[4]]
    divisor = math.gcd(*(n for pair in split for n in pair))
    if not isinstance(groups, int) or groups < 1 or divisor % groups:
        accepted = [g for g in range(1, divisor + 1) if divisor % g == 0]
        raise ValueError(f"alexnet: groups must be an int dividing the maps of the split convs "
                         f"(one of {accepted}); got {groups!r}.")


def _features(config):
    """(stride, channels) after each strided conv and pool, as `_build_alexnet` appends them."""
    stride, features = 1, []
    for filters, _, strides, _, _, _, pool in config:
        stride *= strides
        if strides > 1:
            features.append((stride, filters))
        if pool:
            stride *= 2
            features.append((stride, filters))
    return features


def _build_alexnet(config, options, *, groups=2):
    """`groups`: the towers conv2, conv4 and conv5 are split into (the paper's 2)."""
    _check_groups(config, groups)
    inputs = options.input()
    x, features = options.preprocess(inputs), []
    for index, (filters, kernel, strides, padding, split, lrn, pool) in enumerate(config, start=1):
        x = zl.conv_bn_act(x, filters, kernel, strides, padding=padding, use_bias=True,
                           groups=groups if split else 1, batch_norm=False,
                           suffixes=("", "", "_relu"), name=f"conv{index}")
        if lrn:
            x = zl.LocalResponseNormalization(**LRN, name=f"norm{index}")(x)
        if strides > 1:
            features.append(x)
        if pool:
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{index}")(x)
            features.append(x)
    head = options.dense_head(HIDDEN, default_dropout=0.5)
    return options.finish(inputs, x, features, head=head)


# 67 is the smallest input whose three 3x3/2 pools still see a 3x3 window:
# 67 -> conv1 15 -> pool 7 -> pool 3 -> pool 1.
# No BatchNorm: on the digits at 67 px, 3 epochs, Adam at the harness's 5e-3 tested 0.23
# (chance 0.10), at 3e-4 0.62.
register_model("alexnet", functools.partial(_build_alexnet, ALEXNET), paper=PAPER,
               input_shape=(227, 227, 3), min_size=67, preprocessing="unit", learning_rate=3e-4,
               head_layers=(*(name for name, _ in HIDDEN), "predictions"), features=_features(ALEXNET))
