"""The image transformation network of fast style transfer (Johnson et al., 2016):
one forward pass stylises an image, trained with a perceptual loss on a fixed VGG's
features (the harness's `style` task, training/tasks/style.py).

The layout of Johnson et al.'s supplementary material: a 9x9 conv with 32 filters,
two stride-2 3x3 convs (64, 128), five residual blocks of two 3x3 convs with 128
filters, two 2x upsampling steps (64, 32), and a 9x9 conv to the input's channels;
instance normalisation (Ulyanov et al., 2016) and ReLU after every conv but the
last, reflection padding before every conv (the convs themselves pad "valid").

Where it departs from the paper, and why:
- Upsampling is nearest-neighbour (zoo.layers.NearestUpSampling2D: keras' UpSampling2D
  in a form TFLite runs as one builtin) then a 3x3 conv, not Johnson's
  fractionally strided conv: a transposed conv whose kernel is not a multiple of
  its stride overlaps unevenly and paints checkerboard artefacts (Odena et al.,
  "Deconvolution and Checkerboard Artifacts", Distill 2016); resize-then-conv does not.
- The residual blocks pad (reflect) rather than crop the shortcut, so the output
  has the input's size; a block ends in instance norm without ReLU (Gross and
  Wilber's blocks, as Johnson's supplementary draws them).
- Convs followed by instance norm have no bias: the norm subtracts each channel's
  mean, which cancels a bias exactly.
- The output is a scaled tanh onto 0-255 pixels (zoo.layers.PixelRange), as in the
  paper: always in range and always with a gradient (a clip has none where it clips).

Input: 0-255 pixels, normalised inside to [0, 1] ("unit"); output: 0-255 pixels of
the input's size. Height and width must be multiples of 4 (two stride-2 steps,
undone by two 2x upsamplings); None x None takes any such size.
"""

import functools

from keras import layers

from zoo import layers as zl
from zoo.registry import register_model

PAPER = ("Johnson, Alahi and Fei-Fei, Perceptual Losses for Real-Time Style Transfer and "
         "Super-Resolution, ECCV 2016 (arXiv:1603.08155)")

# name: (downsampling convs (name, filters, kernel, stride), residual blocks (count,
# filters), upsampling steps (name, filters, kernel), output kernel)
STYLE_NETS = {
    "style_net": ((("conv1", 32, 9, 1), ("conv2", 64, 3, 2), ("conv3", 128, 3, 2)),
                  (5, 128),
                  (("up1", 64, 3), ("up2", 32, 3)),
                  9),
}
SIZE_MULTIPLE = 4  # 2 ** (stride-2 steps)


def _conv(x, filters, kernel, name, strides=1, norm=True):
    """Reflection padding, a "valid" conv, then instance norm (no bias before it)."""
    x = zl.ReflectionPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel, strides=strides, use_bias=not norm, name=f"{name}_conv")(x)
    return zl.instance_norm(f"{name}_norm")(x) if norm else x


def _residual_block(x, filters, name):
    shortcut = x
    x = layers.ReLU(name=f"{name}_relu")(_conv(x, filters, 3, f"{name}_a"))
    x = _conv(x, filters, 3, f"{name}_b")
    return layers.Add(name=f"{name}_add")([shortcut, x])


def _check_arguments(options):
    fixed = {"include_top": (options.include_top, True), "pooling": (options.pooling, None),
             "features_only": (options.features_only, False),
             "out_indices": (options.out_indices, None),
             "classifier_activation": (options.classifier_activation, None),
             "dropout": (options.dropout, None), "num_classes": (options.num_classes, 3)}
    bad = [f"{k}={v!r}" for k, (v, default) in fixed.items() if v != default]
    if bad:
        raise ValueError(f"{options.name} maps an image to an image of the same size and "
                         f"channels (no classifier, no classes); got {', '.join(bad)}. Leave "
                         "include_top, pooling, features_only, out_indices, "
                         "classifier_activation, dropout and num_classes at their defaults.")
    sizes = options.input_shape[:-1]
    if any(d is not None and d % SIZE_MULTIPLE for d in sizes):
        fitting = "x".join(str(-(-d // SIZE_MULTIPLE) * SIZE_MULTIPLE) for d in sizes)
        raise ValueError(f"{options.name} needs input height and width that are multiples of "
                         f"{SIZE_MULTIPLE} (two stride-2 convs, two 2x upsamplings); got "
                         f"{'x'.join(map(str, sizes))} (input_shape={options.input_shape}); "
                         f"e.g. {fitting}, or None x None for any such size.")


def _build_style_net(config, options):
    down, (blocks, block_filters), up, output_kernel = config
    _check_arguments(options)
    inputs = options.input()
    x = options.preprocess(inputs)
    for name, filters, kernel, stride in down:
        x = layers.ReLU(name=f"{name}_relu")(_conv(x, filters, kernel, name, strides=stride))
    for index in range(1, blocks + 1):
        x = _residual_block(x, block_filters, f"res{index}")
    for name, filters, kernel in up:
        x = zl.NearestUpSampling2D(2, name=f"{name}_upsample")(x)
        x = layers.ReLU(name=f"{name}_relu")(_conv(x, filters, kernel, name))

    def head(x):
        x = _conv(x, options.input_shape[-1], output_kernel, "output", norm=False)
        # float32 as other heads' logits (mixed precision computes the body in float16)
        return zl.PixelRange(0.0, 255.0, name="pixels", dtype=zl.LOGITS_DTYPE)(x)

    return options.finish(inputs, x, head=head)


for _name, _config in STYLE_NETS.items():
    register_model(_name, functools.partial(_build_style_net, _config), paper=PAPER,
                   input_shape=(256, 256, 3), min_size=2 * SIZE_MULTIPLE, num_classes=3,
                   preprocessing="unit", head_layers=("output_conv",), task="style")
