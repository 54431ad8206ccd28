"""EfficientNet (Tan & Le, 2019): the B0 block table scaled in width, depth and
resolution by one compound coefficient.

`efficientnet(phi=...)` (or explicit `width`, `depth`, `resolution`) builds any
member of the family. The registered efficientnet_b0 ... b7 use the released
coefficients, which lie near but not on the paper's rule (tensorflow/tpu#390:
B1 is (1.0, 1.1, 240) where phi=1 gives (1.1, 1.2, 258)); they are
layer-compatible with keras.applications.EfficientNetB0..B7, including its
Rescaling(1/255) and Normalization layers: inputs are pixels in 0-255. Those
layers are always there, `include_preprocessing=False` included: the
Normalization's mean and variance are in keras' published weight files, which
load by the order of layers with weights (and keras.applications' EfficientNet
takes 0-255 pixels too, so the bare keras graph is this one).
"""

import functools
import math
import numbers

from keras import layers

from zoo import layers as zl
from zoo.options import BuildOptions, PublishedWeights, common_kwargs
from zoo.registry import COMMON_ARGS, register_model

PAPER = ("Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, "
         "ICML 2019 (arXiv:1905.11946)")
MIN_SIZE = 32
# keras.applications' own Rescaling(1/255) and Normalization(ImageNet mean, variance)
PREPROCESSING = "efficientnet"

# EfficientNet-B0 (paper, table 1) between the 3x3/2 stem conv of 32 filters and
# the 1x1 conv of 1280: MBConv blocks with squeeze-excite at 0.25 of their input.
B0_BLOCKS = (
    # kernel, repeats, output filters, expansion, stride of the first
    (3, 1, 16, 1, 1),
    (3, 2, 24, 6, 2),
    (5, 2, 40, 6, 2),
    (3, 3, 80, 6, 2),
    (5, 3, 112, 6, 1),
    (5, 4, 192, 6, 2),
    (3, 1, 320, 6, 1),
)
STEM_FILTERS, TOP_FILTERS = 32, 1280

# The paper's rule: depth ALPHA^phi, width BETA^phi, resolution GAMMA^phi, with
# ALPHA * BETA^2 * GAMMA^2 ~= 2 so that FLOPs about double per unit of phi.
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
BASE_RESOLUTION = 224

# name: width, depth, resolution, dropout (the released coefficients)
EFFICIENTNETS = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}

# name: (md5 with top, md5 without top) of keras.applications' files
_WEIGHT_HASHES = {
    "efficientnet_b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "efficientnet_b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "efficientnet_b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "efficientnet_b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "efficientnet_b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "efficientnet_b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "efficientnet_b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "efficientnet_b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
_WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
# keras' published files hold these in the Normalization layer's variance slot;
# keras.applications divides by their square roots once more (see below).
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


def _published(name):
    top, notop = _WEIGHT_HASHES[name]
    stem = name.replace("_", "")  # keras names the files efficientnetb0.h5, ...
    return PublishedWeights(_WEIGHTS_URL, (f"{stem}.h5", top), (f"{stem}_notop.h5", notop))


def round_filters(filters, width, divisor=8):
    """Channels scaled by `width`, rounded to a multiple of `divisor` (never 10% under)."""
    return zl.make_divisible(filters * width, divisor)


def round_repeats(repeats, depth):
    """Blocks in a stage scaled by `depth`, rounded up."""
    return int(math.ceil(depth * repeats))


def compound_scaling(phi):
    """The paper's (width, depth, resolution) for compound coefficient `phi`."""
    return BETA ** phi, ALPHA ** phi, int(round(BASE_RESOLUTION * GAMMA ** phi))


def _dropout_for(phi):
    """The released dropout rates as a rule: 0.2 for B0-B1, +0.1 per 2 steps of phi, at most 0.5."""
    return min(0.5, max(0.0, 0.2 + 0.1 * (phi // 2)))


def _features(width):
    """(stride, channels) before each strided stage and of the top conv, as
    `_build_efficientnet` appends them (repeats do not change them)."""
    stride, channels, features = 2, round_filters(STEM_FILTERS, width), []
    for _, _, filters, _, first_stride in B0_BLOCKS:
        if first_stride != 1:
            features.append((stride, channels))
        stride, channels = stride * first_stride, round_filters(filters, width)
    return features + [(stride, round_filters(TOP_FILTERS, width))]


def _build_efficientnet(config, options, *, drop_connect_rate=0.2):
    """`config` is (width, depth, resolution, dropout); `drop_connect_rate` is the
    stochastic-depth rate of the last block, growing linearly from 0 at the first."""
    width, depth, _, dropout = config
    if isinstance(drop_connect_rate, bool) or not isinstance(drop_connect_rate, numbers.Real) \
            or not 0 <= drop_connect_rate < 1:
        raise ValueError(f"{options.name}: drop_connect_rate must be a number in [0, 1); "
                         f"got drop_connect_rate={drop_connect_rate!r}.")
    inputs = options.input()
    # Always inside, whatever include_preprocessing says (see the module docstring).
    x = layers.Rescaling(1.0 / 255.0, name="rescaling")(inputs)
    x = layers.Normalization(axis=-1, name="normalization")(x)
    if options.weights == "imagenet":
        # keras.applications' fix for its files (no weights: does not shift the weight order).
        x = layers.Rescaling([1.0 / math.sqrt(s) for s in _IMAGENET_STDDEV_RGB], name="rescaling_1")(x)
    x = zl.nd(x).ZeroPadding(zl.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = zl.conv_bn_act(x, round_filters(STEM_FILTERS, width), 3, 2, padding="valid", activation="swish",
                       name="stem", suffixes=("_conv", "_bn", "_activation"))
    features = []
    total = sum(round_repeats(row[1], depth) for row in B0_BLOCKS)
    index = 0
    for stage, (kernel, repeats, filters, expansion, first_stride) in enumerate(B0_BLOCKS, start=1):
        for repeat in range(round_repeats(repeats, depth)):
            strides = first_stride if repeat == 0 else 1
            if strides != 1:
                features.append(x)
            x = zl.mbconv(x, round_filters(filters, width), kernel, strides, expansion,
                          drop_rate=drop_connect_rate * index / total,
                          name=f"block{stage}{chr(ord('a') + repeat)}")
            index += 1
    x = zl.conv_bn_act(x, round_filters(TOP_FILTERS, width), 1, activation="swish", name="top",
                       suffixes=("_conv", "_bn", "_activation"))
    features.append(x)
    return options.finish(inputs, x, features, default_dropout=dropout)


def efficientnet(phi=None, *, width=None, depth=None, resolution=None, drop_connect_rate=0.2, **kwargs):
    """An EfficientNet scaled from B0 by compound coefficient `phi` (the paper's
    rule), or by explicit `width`, `depth` and `resolution` (B0's where omitted).

    The default input is resolution x resolution x 3; the dropout before the
    classifier follows the released models (0.2 at phi 0-1, +0.1 per 2 steps,
    at most 0.5). `kwargs` are the common build arguments (num_classes,
    include_top, input_shape, dropout, ...); there are no published weights.
    """
    unknown = sorted(set(kwargs) - set(COMMON_ARGS) - {"classes"})
    if unknown:
        raise TypeError(f"efficientnet got unknown argument(s) {', '.join(unknown)}; it accepts: phi, "
                        f"width, depth, resolution, drop_connect_rate, {', '.join(COMMON_ARGS)}.")
    explicit = (width, depth, resolution) != (None, None, None)
    if phi is not None:
        if explicit:
            raise ValueError("efficientnet: give phi or (width, depth, resolution), not both; "
                             f"got phi={phi!r}, width={width!r}, depth={depth!r}, resolution={resolution!r}.")
        if isinstance(phi, bool) or not isinstance(phi, numbers.Real) or not math.isfinite(phi):
            raise ValueError(f"efficientnet: phi must be a finite number; got phi={phi!r}.")
        width, depth, resolution = compound_scaling(phi)
    width = 1.0 if width is None else width
    depth = 1.0 if depth is None else depth
    resolution = BASE_RESOLUTION if resolution is None else resolution
    for key, value in (("width", width), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"efficientnet: {key} must be a number > 0; got {key}={value!r}.")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < MIN_SIZE:
        raise ValueError(f"efficientnet: resolution must be an int >= {MIN_SIZE}; "
                         f"got resolution={resolution!r} (phi={phi!r}).")
    kwargs = common_kwargs(kwargs, name="efficientnet" if phi is None else f"efficientnet_phi{phi:g}",
                           input_shape=(resolution, resolution, 3), num_classes=1000)
    options = BuildOptions(**kwargs, preprocessing=PREPROCESSING)
    options.check_min_size(MIN_SIZE)
    config = (width, depth, resolution, _dropout_for(0 if phi is None else phi))
    return _build_efficientnet(config, options, drop_connect_rate=drop_connect_rate)


# Adam at the harness's 5e-3 throws its first steps off: on the digits, B0 at 32 px, 3 epochs
# tested 0.955 (epoch-1 validation 0.59) against 0.970 (0.90) at 2e-3; at 64 px, 10 epochs,
# 0.967-0.978 against 0.993.
LEARNING_RATE = 2e-3

for _name, _config in EFFICIENTNETS.items():
    register_model(_name, functools.partial(_build_efficientnet, _config), paper=PAPER,
                   preprocessing=PREPROCESSING, learning_rate=LEARNING_RATE,
                   input_shape=(_config[2], _config[2], 3), min_size=MIN_SIZE, spatial_dims=(1, 2, 3),
                   published_weights=_published(_name), features=_features(_config[0]))
