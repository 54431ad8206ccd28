"""U-Net (Ronneberger et al., 2015): a contracting path, an expanding path of
2x2 transposed convolutions, skip connections between them, and per-pixel logits.

The modern variant: 3x3 convs with "same" padding, so the output is H x W x
num_classes and skips are concatenated uncropped (the paper used "valid" convs
and cropped each skip: a 572x572 tile gave a 388x388 map). Each max pool must
halve H and W exactly, so they must be multiples of 2**depth. The default input
is 512x512x1, the size of the grey EM slices of the paper's ISBI 2012 data.

`encoder="<zoo classification model>"` replaces the contracting path by that
model's `features_only` maps, built into the same graph (one flat model; its
layers keep the encoder's names, so its weights load and freeze by name).
The expanding path is the same: at each of the encoder's strides, a transposed
conv back up, the skip concatenated, two 3x3 convs with base_filters * 2**level
filters (base_filters=16 gives the light 256-128-64-32-16 decoder of common
encoder U-Nets); the encoder's first map is at stride 2, so one last upsample
without a skip reaches full resolution. `depth` then caps how many of the
encoder's downsampling steps are used (all by default).

A U-Net has no classifier top: `include_top=False`, `pooling`, `features_only`
and `out_indices` are refused. `classifier_activation` applies per pixel and
`dropout` (0 by default; the paper used drop-out at the end of the contracting
path without giving a rate) goes after the bottleneck.
"""

import functools

from keras import layers

from zoo import layers as zl
from zoo.registry import build, get_entry, register_model

PAPER = ("Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image "
         "Segmentation, MICCAI 2015 (arXiv:1505.04597)")
DEFAULT_DEPTH = 4

# name: (3x3 convs per level, default input shape)
UNETS = {
    "unet": (2, (512, 512, 1)),
}


def _conv_block(x, filters, convs, batch_norm, name):
    for index in range(1, convs + 1):
        x = zl.conv_bn_act(x, filters, 3, use_bias=not batch_norm, batch_norm=batch_norm,
                           name=f"{name}_conv{index}")
    return x


def _size_error(options, what, multiple):
    sizes = options.input_shape[:-1]
    fitting = "x".join(str(-(-d // multiple) * multiple) for d in sizes)
    return ValueError(f"{options.name} with {what} needs input height and width that are "
                      f"multiples of {multiple}; got {'x'.join(map(str, sizes))} "
                      f"(input_shape={options.input_shape}); e.g. {fitting}.")


def _check_arguments(options, base_filters, depth, batch_norm, encoder, encoder_weights):
    classifier_args = {"include_top": (options.include_top, True), "pooling": (options.pooling, None),
                       "features_only": (options.features_only, False),
                       "out_indices": (options.out_indices, None)}
    bad = [f"{k}={v!r}" for k, (v, default) in classifier_args.items() if v != default]
    if bad:
        raise ValueError(f"{options.name} has no classifier top to drop or pool (its head is the "
                         f"per-pixel 1x1 logits conv); got {', '.join(bad)}. Leave include_top, "
                         "pooling, features_only and out_indices at their defaults.")
    for arg, value in (("base_filters", base_filters), ("depth", depth)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{options.name}: {arg} must be a positive int; got {value!r}.")
    if not isinstance(batch_norm, bool):
        raise ValueError(f"{options.name}: batch_norm must be True or False; got {batch_norm!r}.")
    if encoder is None:
        if encoder_weights is not None:
            raise ValueError(f"{options.name}: encoder_weights={encoder_weights!r} needs an encoder "
                             "(e.g. encoder='resnet50').")
        return
    # An encoder is read through its features_only maps, which only classifiers declare.
    if not isinstance(encoder, str) or get_entry(encoder).features is None:
        raise ValueError(f"{options.name}: encoder must be the name of a zoo classification model "
                         f"(e.g. 'resnet50'); got {encoder!r}.")


def _contracting_path(inputs, base_filters, depth, convs, batch_norm):
    """The paper's contracting path: levels 0..depth-1 give the skips, then the bottleneck."""
    x, skips = inputs, []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2 ** level, convs, batch_norm, f"down{level}")
        skips.append(x)
        x = zl.nd(x).MaxPooling(2, name=f"down{level}_pool")(x)
    return _conv_block(x, base_filters * 2 ** depth, convs, batch_norm, "bottleneck"), skips


def _encoder_path(options, encoder, encoder_weights, depth):
    """The encoder's features_only maps as the contracting path, in the same graph
    (with the encoder's own input preprocessing, e.g. resnet50's caffe convention).

    The maps' strides come from the encoder's registry entry; at a known input
    size each map must be exactly the input divided by its stride."""
    strides = [stride for stride, _ in get_entry(encoder).features]
    if depth is not None and depth > len(strides):
        raise ValueError(f"{options.name}: encoder {encoder!r} downsamples {len(strides)} times "
                         f"(strides {strides}); got depth={depth}.")
    depth = depth or len(strides)
    model = build(encoder, input_shape=options.input_shape, input_tensor=options.input_tensor,
                  include_top=False, features_only=True, weights=encoder_weights,
                  include_preprocessing=options.include_preprocessing)
    levels = list(zip([1] + strides, [None] + model.outputs))[:depth + 1]
    if options.fixed_size:
        what = f"encoder={encoder!r} ({depth} downsampling steps)"
        sizes = options.input_shape[:-1]
        if any(d % strides[depth - 1] for d in sizes):
            raise _size_error(options, what, strides[depth - 1])
        if any(tuple(m.shape[1:-1]) != tuple(d // s for d in sizes) for s, m in levels[1:]):
            raise ValueError(f"{options.name}: the maps of encoder {encoder!r} are not its input "
                             "divided by their strides (it pads 'valid'), so the decoder cannot "
                             "mirror them; choose an encoder with 'same' padding, e.g. 'resnet50'.")
    return model.inputs[0], levels[-1], levels[:-1]


def _expanding_path(x, levels, base_filters, convs, batch_norm):
    """From the deepest map `x` = (stride, map) up: a transposed conv (kernel =
    strides = the stride ratio, 2x2 in the paper), the level's skip concatenated
    if it has one, and the level's 3x3 convs with base_filters * 2**level filters."""
    stride, x = x
    for level in reversed(range(len(levels))):
        (level_stride, skip), filters = levels[level], base_filters * 2 ** level
        ratio = stride // level_stride
        x = zl.nd(x).ConvTranspose(filters, ratio, strides=ratio, name=f"up{level}_upconv")(x)
        if skip is not None:
            x = layers.Concatenate(name=f"up{level}_concat")([skip, x])
        x = _conv_block(x, filters, convs, batch_norm, f"up{level}")
        stride = level_stride
    return x


def _build_unet(config, options, *, base_filters=64, depth=None, batch_norm=False,
                encoder=None, encoder_weights=None):
    """`depth` (pools) defaults to 4 alone and to all the encoder's steps with one."""
    convs, _ = config
    _check_arguments(options, base_filters, depth, batch_norm, encoder, encoder_weights)
    if encoder is None:
        depth = depth or DEFAULT_DEPTH
        if any(d is not None and d % 2 ** depth for d in options.input_shape[:-1]):
            raise _size_error(options, f"depth={depth}", 2 ** depth)
        inputs = options.input()
        x, skips = _contracting_path(options.preprocess(inputs), base_filters, depth, convs, batch_norm)
        x, levels = (2 ** depth, x), [(2 ** level, skip) for level, skip in enumerate(skips)]
    else:
        inputs, x, levels = _encoder_path(options, encoder, encoder_weights, depth)
    if options.dropout_or(0.0):
        x = (x[0], layers.Dropout(options.dropout, name="bottleneck_dropout")(x[1]))
    x = _expanding_path(x, levels, base_filters, convs, batch_norm)
    head = zl.nd(x).Conv(options.num_classes, 1, activation=options.classifier_activation,
                         name="predictions", dtype=zl.LOGITS_DTYPE)
    return options.finish(inputs, x, head=head)


for _name, _config in UNETS.items():
    register_model(_name, functools.partial(_build_unet, _config), paper=PAPER,
                   input_shape=_config[1], min_size=2 ** DEFAULT_DEPTH, num_classes=2, preprocessing="unit",
                   spatial_dims=(1, 2, 3),
                   task="segmentation")
