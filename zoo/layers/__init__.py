"""Shared building blocks: the one conv-bn-act, residual blocks, heads."""

from zoo.layers.conv import conv_bn_act
from zoo.layers.connection_table import ConnectionTableConv2D
from zoo.layers.head import classifier_head, dense_head, global_pool
from zoo.layers.inception import inception_module
from zoo.layers.lrn import LocalResponseNormalization
from zoo.layers.residual import basic_block, bottleneck_block

__all__ = ["ConnectionTableConv2D", "LocalResponseNormalization", "basic_block", "bottleneck_block",
           "classifier_head", "conv_bn_act", "dense_head", "global_pool", "inception_module"]
