"""Shared building blocks: the one conv-bn-act, residual and mobile blocks, heads."""

from zoo.layers.connection_table import ConnectionTableConv2D
from zoo.layers.conv import conv_bn_act
from zoo.layers.detection import SpaceToDepth, YoloDetections, YoloGrid
from zoo.layers.head import LOGITS_DTYPE, classifier_head, dense_head, global_pool
from zoo.layers.inception import inception_module
from zoo.layers.lrn import LocalResponseNormalization
from zoo.layers.mobile import (
    correct_pad,
    depthwise_bn_act,
    depthwise_separable_block,
    inverted_residual,
    make_divisible,
    mbconv,
    squeeze_excite,
)
from zoo.layers.pair import PairFeatures
from zoo.layers.preprocess import Preprocess
from zoo.layers.rank import RANKS, depthwise_conv, nd, spatial_dims
from zoo.layers.residual import basic_block, bottleneck_block
from zoo.layers.style import (
    InstanceNormalization,
    NearestUpSampling2D,
    PixelRange,
    ReflectionPadding2D,
    instance_norm,
)

__all__ = ["LOGITS_DTYPE", "RANKS", "ConnectionTableConv2D", "InstanceNormalization",
           "LocalResponseNormalization", "NearestUpSampling2D",
           "PairFeatures", "PixelRange", "Preprocess", "ReflectionPadding2D", "SpaceToDepth", "YoloDetections",
           "YoloGrid",
           "basic_block", "bottleneck_block",
           "classifier_head", "conv_bn_act", "correct_pad", "dense_head", "depthwise_bn_act",
           "depthwise_conv", "depthwise_separable_block", "global_pool", "inception_module", "instance_norm",
           "inverted_residual", "make_divisible", "mbconv", "nd", "spatial_dims", "squeeze_excite"]
