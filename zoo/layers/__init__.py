"""Shared building blocks: the one conv-bn-act, residual blocks, heads."""

from zoo.layers.conv import conv_bn_act
from zoo.layers.head import classifier_head, global_pool
from zoo.layers.inception import inception_module
from zoo.layers.residual import basic_block, bottleneck_block

__all__ = ["basic_block", "bottleneck_block", "classifier_head", "conv_bn_act", "global_pool"]
__all__ += ["inception_module"]
