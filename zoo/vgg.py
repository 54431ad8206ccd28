"""VGG (Simonyan and Zisserman, 2014), configurations A, B, D and E of table 1.

vgg16 and vgg19 are layer-compatible with keras.applications.VGG16/VGG19 (same
layer names, weight shapes and order), so keras.applications' published
ImageNet weights load. Dropout 0.5 after fc1 and fc2 as in the paper (Keras'
models have none; it holds no weights and is off at inference).
"""

import functools

from zoo import layers as zl
from zoo.options import PublishedWeights
from zoo.registry import register_model

PAPER = ("Simonyan and Zisserman, Very Deep Convolutional Networks for Large-Scale "
         "Image Recognition, ICLR 2015 (arXiv:1409.1556)")
STAGE_FILTERS = (64, 128, 256, 512, 512)
FC_UNITS = 4096
HIDDEN = (("fc1", FC_UNITS), ("fc2", FC_UNITS))  # the fully connected layers before the logits

# name: 3x3 convs in each of the five stages, input preprocessing (keras.applications'
# caffe convention where its weights load, [0, 1] for the others)
VGGS = {
    "vgg11": ((1, 1, 2, 2, 2), "unit"),
    "vgg13": ((2, 2, 2, 2, 2), "unit"),
    "vgg16": ((2, 2, 3, 3, 3), "caffe"),
    "vgg19": ((2, 2, 4, 4, 4), "caffe"),
}

# name: (md5 with top, md5 without top) of keras.applications' files
_WEIGHT_HASHES = {
    "vgg16": ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
}
_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/{name}/"



def _build_vgg(stage_convs, options):
    top_weights = options.weights == "imagenet" and options.include_top and not options.features_only
    if top_weights and options.input_shape != (224, 224, 3):
        # fc1's weights are shaped by the 7x7 map of a 224x224 input.
        raise ValueError(f"{options.name}: weights='imagenet' with include_top=True needs "
                         f"input_shape=(224, 224, 3); got {options.input_shape}. Use "
                         "include_top=False for other sizes.")
    inputs = options.input()
    x, features = options.preprocess(inputs), []
    for stage, (filters, convs) in enumerate(zip(STAGE_FILTERS, stage_convs), start=1):
        for index in range(1, convs + 1):
            x = zl.conv_bn_act(x, filters, 3, use_bias=True, batch_norm=False,
                               suffixes=("", "", "_relu"), name=f"block{stage}_conv{index}")
        x = zl.nd(x).MaxPooling(2, strides=2, name=f"block{stage}_pool")(x)
        features.append(x)
    head = options.dense_head(HIDDEN, default_dropout=0.5)
    return options.finish(inputs, x, features, head=head)


# Without BatchNorm, Adam at the harness's 5e-3 leaves them at chance. On the digits at 32 px:
# vgg11 0.10 after 3 epochs at 5e-3, 0.89 after 6 at 3e-4, 0.90 after 4 at 1e-4; vgg16 (caffe
# inputs, 0-255 in scale) 0.10 at 5e-3, 0.19 after 6 at 3e-4, 0.92 after 4 at 1e-4; vgg19
# 0.42 after 4 at 1e-4 (rising).
LEARNING_RATE = 1e-4

for _name, (_config, _preprocessing) in VGGS.items():
    register_model(_name, functools.partial(_build_vgg, _config), paper=PAPER,
                   input_shape=(224, 224, 3), min_size=32, preprocessing=_preprocessing,
                   learning_rate=LEARNING_RATE,
                   spatial_dims=(1, 2, 3),
                   head_layers=(*(name for name, _ in HIDDEN), "predictions"),
                   features=[(2 ** stage, filters) for stage, filters in enumerate(STAGE_FILTERS, start=1)],
                   published_weights=PublishedWeights.tf_kernels(
                       _WEIGHTS_URL.format(name=_name), _name, _WEIGHT_HASHES))
