"""ResNet v1 (He et al., 2015), "Deep Residual Learning for Image Recognition".

resnet50/101/152 are layer-compatible with keras.applications.ResNet50/101/152
(conv biases, BN epsilon 1.001e-5, stride on the first 1x1 conv); resnet18/34
follow torchvision's layout (basic blocks, no conv biases).
"""

import functools

from zoo import layers as zl
from zoo.options import PublishedWeights
from zoo.registry import register_model

PAPER = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (arXiv:1512.03385)"
STAGE_FILTERS = (64, 128, 256, 512)
BLOCKS = {"basic": zl.basic_block, "bottleneck": zl.bottleneck_block}

# name: block, blocks per stage, conv biases, input preprocessing (keras.applications'
# caffe convention where its weights load, [0, 1] for the others)
RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2), False, "unit"),
    "resnet34": ("basic", (3, 4, 6, 3), False, "unit"),
    "resnet50": ("bottleneck", (3, 4, 6, 3), True, "caffe"),
    "resnet101": ("bottleneck", (3, 4, 23, 3), True, "caffe"),
    "resnet152": ("bottleneck", (3, 8, 36, 3), True, "caffe"),
}

# name: (md5 with top, md5 without top) of keras.applications' files
_WEIGHT_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}
_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"



def _features(config):
    """(stride, channels) of conv1 and of each stage, as `_build_resnet` appends them."""
    expansion = 4 if config[0] == "bottleneck" else 1
    return [(2, 64)] + [(4 * 2 ** i, filters * expansion) for i, filters in enumerate(STAGE_FILTERS)]


def _build_resnet(config, options):
    block_kind, stage_blocks, use_bias, _ = config
    block = BLOCKS[block_kind]
    inputs = options.input()
    x = options.preprocess(inputs)
    x = zl.nd(x).ZeroPadding(3, name="conv1_pad")(x)
    x = zl.conv_bn_act(x, 64, 7, 2, padding="valid", use_bias=use_bias, bn_epsilon=1.001e-5,
                       name="conv1")
    features = [x]
    x = zl.nd(x).ZeroPadding(1, name="pool1_pad")(x)
    x = zl.nd(x).MaxPooling(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, stage_blocks), start=2):
        for index in range(1, blocks + 1):
            first = index == 1
            x = block(x, filters, strides=2 if first and stage > 2 else 1,
                      projection=first and (stage > 2 or block_kind == "bottleneck"),
                      use_bias=use_bias, name=f"conv{stage}_block{index}")
        features.append(x)
    return options.finish(inputs, x, features)


for _name, _config in RESNETS.items():
    register_model(_name, functools.partial(_build_resnet, _config), paper=PAPER,
                   input_shape=(224, 224, 3), min_size=32, features=_features(_config),
                   spatial_dims=(1, 2, 3),
                   preprocessing=_config[3],
                   published_weights=PublishedWeights.tf_kernels(_WEIGHTS_URL, _name, _WEIGHT_HASHES))
