"""The Inception module of GoogLeNet (Szegedy et al., 2014, figure 2b).

Four parallel branches, concatenated on channels: a 1x1 conv; a 1x1
bottleneck then a 3x3 conv; a 1x1 bottleneck then a 5x5 conv; a 3x3/1 max pool
then a 1x1 projection. The bottlenecks and the projection are what keep the
module cheap: they cut the channels before the expensive convs and the pool.
"""

from keras import layers

from zoo.layers.conv import conv_bn_act
from zoo.layers.rank import nd

# Layer names follow the Caffe model's (inception_3a/1x1, .../3x3_reduce, ...):
# the conv is `<module>_<branch>`, then `_bn` and `_relu`.
_SUFFIXES = ("", "_bn", "_relu")


def inception_module(x, filters_1x1, reduce_3x3, filters_3x3, reduce_5x5, filters_5x5,
                     pool_proj, *, name, batch_norm=False, bn_epsilon=1e-3):
    """One Inception module; outputs the sum of `filters_1x1`, `filters_3x3`,
    `filters_5x5` and `pool_proj` channels at the input's spatial size.

    The paper's layout (the default) has conv biases and no BN; `batch_norm=True`
    gives conv-bn-relu without conv biases (as torchvision's GoogLeNet).
    """

    def conv(inputs, filters, kernel_size, branch):
        return conv_bn_act(inputs, filters, kernel_size, use_bias=not batch_norm,
                           batch_norm=batch_norm, bn_epsilon=bn_epsilon,
                           suffixes=_SUFFIXES, name=f"{name}_{branch}")

    branch_1x1 = conv(x, filters_1x1, 1, "1x1")
    branch_3x3 = conv(conv(x, reduce_3x3, 1, "3x3_reduce"), filters_3x3, 3, "3x3")
    branch_5x5 = conv(conv(x, reduce_5x5, 1, "5x5_reduce"), filters_5x5, 5, "5x5")
    pooled = nd(x).MaxPooling(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv(pooled, pool_proj, 1, "pool_proj")
    return layers.Concatenate(axis=-1, name=f"{name}_output")(
        [branch_1x1, branch_3x3, branch_5x5, branch_pool])
