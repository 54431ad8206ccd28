"""MobileNet v1 (Howard et al., 2017) and MobileNetV2 (Sandler et al., 2018).

Both are layer-compatible with keras.applications.MobileNet / MobileNetV2 for
every alpha (same layer names, order and weight shapes), so keras'
published ImageNet files load. `alpha` (width multiplier) may be any positive
number, as in keras.applications; published weights exist only for the alphas
in MOBILENET_WEIGHT_ALPHAS / MOBILENET_V2_WEIGHT_ALPHAS, and weights='imagenet'
with any other alpha is refused with a clear error. The weights fit any input
size; a size keras published no file for loads the 224 file with a warning,
as keras.applications does.
"""

import functools
import numbers
import warnings

from keras import layers

from zoo import layers as zl
from zoo.options import PublishedWeights
from zoo.registry import register_model

PAPER_V1 = ("Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile "
            "Vision Applications, 2017 (arXiv:1704.04861)")
PAPER_V2 = ("Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks, "
            "CVPR 2018 (arXiv:1801.04381)")

# MobileNet v1 (paper, table 1) after the 3x3/2 stem conv of 32 filters:
# pointwise filters, depthwise stride
MOBILENET_BLOCKS = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)

# MobileNetV2 (paper, table 2) after the 3x3/2 stem conv of 32 filters, before
# the 1x1 conv of 1280: expansion, output channels, repeats, stride of the first
MOBILENET_V2_STAGES = (
    # t, c, n, s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# keras.applications' published files: alpha -> file-name text, and input sizes
MOBILENET_WEIGHT_ALPHAS = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}
MOBILENET_WEIGHT_SIZES = (128, 160, 192, 224)
MOBILENET_V2_WEIGHT_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENET_V2_WEIGHT_SIZES = (96, 128, 160, 192, 224)
_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _check_alpha(options, alpha, minimum=0):
    """A width multiplier: a number > 0, and >= `minimum` if every layer is to keep a filter."""
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
            or not (alpha > 0 and alpha >= minimum)):
        accepted = f">= {minimum:g} (so every layer keeps a filter)" if minimum else "> 0"
        raise ValueError(f"{options.name}: alpha (width multiplier) must be a number {accepted}; "
                         f"got alpha={alpha!r}.")


def _published_size(options, sizes):
    """The input size of the published file: the model's own if keras published it, else 224."""
    rows, cols, _ = options.input_shape
    if rows == cols and rows in sizes:
        return rows
    warnings.warn(f"{options.name}: ImageNet weights are published for square inputs of "
                  f"{sizes}; loading those for 224x224 into the {rows}x{cols} model.", stacklevel=4)
    return 224


def _mobilenet_weights(options, *, alpha, depth_multiplier):
    if alpha not in MOBILENET_WEIGHT_ALPHAS or depth_multiplier != 1:
        raise ValueError(f"{options.name}: ImageNet weights are published for alpha in "
                         f"{tuple(MOBILENET_WEIGHT_ALPHAS)} with depth_multiplier=1; got "
                         f"alpha={alpha!r}, depth_multiplier={depth_multiplier!r}.")
    stem = f"mobilenet_{MOBILENET_WEIGHT_ALPHAS[alpha]}_{_published_size(options, MOBILENET_WEIGHT_SIZES)}_tf"
    return PublishedWeights(_URL + "mobilenet/", (f"{stem}.h5", None), (f"{stem}_no_top.h5", None))


def _mobilenet_v2_weights(options, *, alpha):
    if alpha not in MOBILENET_V2_WEIGHT_ALPHAS:
        raise ValueError(f"{options.name}: ImageNet weights are published for alpha in "
                         f"{MOBILENET_V2_WEIGHT_ALPHAS}; got alpha={alpha!r}.")
    size = _published_size(options, MOBILENET_V2_WEIGHT_SIZES)
    stem = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{size}"
    return PublishedWeights(_URL + "mobilenet_v2/", (f"{stem}.h5", None), (f"{stem}_no_top.h5", None))


def _conv_head(x, options):
    """keras.applications.MobileNet's head: the classifier is a 1x1 conv."""
    rank = zl.nd(x)  # keras.applications' layer names, whatever the rank
    x = rank.GlobalAveragePooling(keepdims=True, name="global_average_pooling2d")(x)
    x = layers.Dropout(options.dropout_or(1e-3), name="dropout")(x)
    x = rank.Conv(options.num_classes, 1, padding="same", name="conv_preds")(x)
    x = layers.Reshape((options.num_classes,), name="reshape_2")(x)
    return layers.Activation(options.classifier_activation, name="predictions",
                             dtype=zl.LOGITS_DTYPE)(x)


def _features(stem, strided_channels, last):
    """(stride, channels) of the map before each strided block, as the builders
    append them, then of the last map; `strided_channels` is ((stride, channels
    after), ...) per block at alpha 1."""
    stride, channels, features = 2, stem, []
    for strides, out in strided_channels:
        if strides != 1:
            features.append((stride, channels))
        stride, channels = stride * strides, out
    return features + [(stride, last)]


def _build_mobilenet(blocks, options, *, alpha=1.0, depth_multiplier=1):
    """MobileNet v1; `depth_multiplier` multiplies the depthwise convs' outputs
    (the paper's resolution multiplier, as keras.applications names it)."""
    _check_alpha(options, alpha, 1 / 32)
    if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
        raise ValueError(f"{options.name}: depth_multiplier must be a positive int; "
                         f"got depth_multiplier={depth_multiplier!r}.")
    options = options.resolve_weights(alpha=alpha, depth_multiplier=depth_multiplier)
    inputs = options.input()
    x = zl.conv_bn_act(options.preprocess(inputs), int(32 * alpha), 3, 2, activation="relu6", name="conv1",
                       suffixes=("", "_bn", "_relu"))
    features = []
    for block_id, (filters, strides) in enumerate(blocks, start=1):
        if strides != 1:
            features.append(x)
        x = zl.depthwise_separable_block(x, int(filters * alpha), strides, block_id=block_id,
                                         depth_multiplier=depth_multiplier)
    features.append(x)
    return options.finish(inputs, x, features, head=functools.partial(_conv_head, options=options))


def _build_mobilenet_v2(stages, options, *, alpha=1.0):
    """MobileNetV2; the last 1x1 conv keeps 1280 filters unless alpha > 1."""
    _check_alpha(options, alpha)
    options = options.resolve_weights(alpha=alpha)
    inputs = options.input()
    x = zl.conv_bn_act(options.preprocess(inputs), zl.make_divisible(32 * alpha), 3, 2, activation="relu6",
                       bn_momentum=0.999, name="", suffixes=("Conv1", "bn_Conv1", "Conv1_relu"))
    features = []
    block_id = 0
    for expansion, channels, repeats, first_stride in stages:
        for index in range(repeats):
            strides = first_stride if index == 0 else 1
            if strides != 1:
                features.append(x)
            x = zl.inverted_residual(x, zl.make_divisible(int(channels * alpha)), 3, strides, expansion,
                                     name=f"block_{block_id}" if block_id else "expanded_conv")
            block_id += 1
    last = zl.make_divisible(1280 * alpha) if alpha > 1 else 1280
    x = zl.conv_bn_act(x, last, 1, activation="relu6", bn_momentum=0.999, name="",
                       suffixes=("Conv_1", "Conv_1_bn", "out_relu"))
    features.append(x)
    return options.finish(inputs, x, features)


register_model("mobilenet", functools.partial(_build_mobilenet, MOBILENET_BLOCKS), paper=PAPER_V1,
               input_shape=(224, 224, 3), min_size=32, published_weights=_mobilenet_weights,
               spatial_dims=(1, 2, 3),
               preprocessing="tf",  # keras.applications' [-1, 1]
               head_layers=("conv_preds",),  # a 1x1 conv; "predictions" is its activation
               features=_features(32, [(s, f) for f, s in MOBILENET_BLOCKS], MOBILENET_BLOCKS[-1][0]))
register_model("mobilenet_v2", functools.partial(_build_mobilenet_v2, MOBILENET_V2_STAGES),
               paper=PAPER_V2, input_shape=(224, 224, 3), min_size=32, preprocessing="tf",
               spatial_dims=(1, 2, 3),
               published_weights=_mobilenet_v2_weights,
               features=_features(32, [(s if i == 0 else 1, c) for _, c, n, s in MOBILENET_V2_STAGES
                                       for i in range(n)], 1280))
