"""Shared building blocks: the one conv-bn-act, residual and mobile blocks, heads."""

from zoo.layers.conv import conv_bn_act
from zoo.layers.head import classifier_head, global_pool
from zoo.layers.mobile import (correct_pad, depthwise_bn_act, depthwise_separable_block,
                               inverted_residual, make_divisible, mbconv, squeeze_excite)
from zoo.layers.residual import basic_block, bottleneck_block

__all__ = ["basic_block", "bottleneck_block", "classifier_head", "conv_bn_act", "global_pool",
           "correct_pad", "depthwise_bn_act", "depthwise_separable_block", "inverted_residual",
           "make_divisible", "mbconv", "squeeze_excite"]
