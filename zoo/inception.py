"""GoogLeNet / Inception v1 (Szegedy et al., 2014), "Going Deeper with Convolutions".

The default is the paper's layout (table 1): 5x5 branches, conv biases, no BN,
"same" padding so that 224x224 gives 7x7 before the global pool: 6,998,552
params. `aux_logits=True` adds the two side classifiers of section 5 after
inception 4a and 4d (13,378,280 params); the model then has three outputs
[main, aux1, aux2], whose losses the training harness weighs with
`zoo.model_info("googlenet")["loss_weights"]`. `strip_aux(model)` gives the
single-output model for inference and export. `batch_norm=True` builds
conv-bn-relu everywhere (as torchvision does).

Local response normalisation (after the first max pool and after conv2 in the
paper) is left out: it has no parameters and later work, torchvision's
GoogLeNet included, drops it.
"""

import functools

from keras import layers

from zoo import layers as zl
from zoo.inference import inference_model
from zoo.registry import register_model

PAPER = "Szegedy et al., Going Deeper with Convolutions, CVPR 2015 (arXiv:1409.4842)"

# Table 1 of the paper, one stage per row group; a 3x3/2 max pool precedes each
# stage (pool2, pool3, pool4), so stages end at strides 8, 16 and 32.
# module, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
INCEPTION_V1 = (
    (("3a", 64, 96, 128, 16, 32, 32),
     ("3b", 128, 128, 192, 32, 96, 64)),
    (("4a", 192, 96, 208, 16, 48, 64),
     ("4b", 160, 112, 224, 24, 64, 64),
     ("4c", 128, 128, 256, 24, 64, 64),
     ("4d", 112, 144, 288, 32, 64, 64),
     ("4e", 256, 160, 320, 32, 128, 128)),
    (("5a", 256, 160, 320, 32, 128, 128),
     ("5b", 384, 192, 384, 48, 128, 128)),
)

# Side classifiers (section 5): the module each follows, and their layout.
AUX_AFTER = {"4a": "aux1", "4d": "aux2"}
AUX_POOL, AUX_POOL_STRIDE, AUX_FILTERS, AUX_UNITS, AUX_DROPOUT = 5, 3, 128, 1024, 0.7
AUX_INPUT_STRIDE = 16  # inception 4a and 4d sit at stride 16
# The side branches' 5x5 valid pool needs a 5x5 map at stride 16.
AUX_MIN_SIZE = AUX_INPUT_STRIDE * (AUX_POOL - 1) + 1
MIN_SIZE = 32  # the total stride: 1x1 before the global pool
DROPOUT = 0.4


def _conv(x, filters, kernel_size, strides=1, *, batch_norm, name):
    return zl.conv_bn_act(x, filters, kernel_size, strides, use_bias=not batch_norm,
                          batch_norm=batch_norm, suffixes=("", "_bn", "_relu"), name=name)


def _aux_classifier(x, options, batch_norm, name):
    """AvgPool 5x5/3, 1x1 conv 128, FC 1024, dropout 0.7, linear classifier."""
    x = zl.nd(x).AveragePooling(AUX_POOL, strides=AUX_POOL_STRIDE, padding="valid",
                                name=f"{name}_avg_pool")(x)
    x = _conv(x, AUX_FILTERS, 1, batch_norm=batch_norm, name=f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(AUX_UNITS, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(AUX_DROPOUT, name=f"{name}_dropout")(x)
    return layers.Dense(options.num_classes, activation=options.classifier_activation,
                        name=f"{name}_predictions", dtype=zl.LOGITS_DTYPE)(x)


def _features(stages):
    """(stride, channels) of conv1, conv2 and each stage's last module (the
    concatenation of its 1x1, 3x3, 5x5 and pool projection branches)."""
    return [(2, 64), (4, 192)] + [(8 * 2 ** i, c1 + c3 + c5 + pool)
                                  for i, (*_, (_, c1, _, c3, _, c5, pool)) in enumerate(stages)]


def _build_inception(stages, options, *, aux_logits=False, batch_norm=False):
    # The side branches flatten a fixed-size map, so they exist only with the classifier.
    aux_logits = aux_logits and options.include_top and not options.features_only
    if aux_logits:
        options.require_fixed_size("aux_logits=True (the side branches flatten their maps)")
    if aux_logits and min(options.input_shape[:2]) < AUX_MIN_SIZE:
        height, width, _ = options.input_shape
        raise ValueError(f"{options.name} with aux_logits=True needs inputs of at least "
                         f"{AUX_MIN_SIZE}x{AUX_MIN_SIZE} (the side branches pool 5x5 "
                         f"windows of inception 4a's map); got {height}x{width}.")
    conv = functools.partial(_conv, batch_norm=batch_norm)
    inputs = options.input()
    x = conv(options.preprocess(inputs), 64, 7, 2, name="conv1")
    features = [x]
    x = zl.nd(x).MaxPooling(3, strides=2, padding="same", name="pool1")(x)
    x = conv(x, 64, 1, name="conv2_reduce")
    x = conv(x, 192, 3, name="conv2")
    features.append(x)
    aux_outputs = []
    for stage, modules in enumerate(stages, start=3):
        x = zl.nd(x).MaxPooling(3, strides=2, padding="same", name=f"pool{stage - 1}")(x)
        for module, *filters in modules:
            x = zl.inception_module(x, *filters, batch_norm=batch_norm, name=f"inception{module}")
            if aux_logits and module in AUX_AFTER:
                aux_outputs.append(_aux_classifier(x, options, batch_norm, AUX_AFTER[module]))
        features.append(x)

    def head(x):
        main = zl.classifier_head(x, options.num_classes, dropout=options.dropout_or(DROPOUT),
                                  activation=options.classifier_activation)
        return [main, *aux_outputs] if aux_outputs else main

    return options.finish(inputs, x, features, head=head)


def strip_aux(model):
    """The single-output inference model of `model`: its main classifier
    ("predictions"), sharing its layers and weights, without the side branches
    (`zoo.inference_model`; `model` itself when it has none)."""
    return model if len(model.outputs) == 1 else inference_model(model)


# No BatchNorm (by default): on the digits at 65 px (the side branches' minimum), 3 epochs,
# Adam at 5e-3, 1e-3 and 3e-4 left it at chance (0.10); at 1e-4 it tested 0.51.
register_model("googlenet", functools.partial(_build_inception, INCEPTION_V1), paper=PAPER,
               input_shape=(224, 224, 3), min_size=MIN_SIZE, loss_weights=(1.0, 0.3, 0.3),
               preprocessing="unit", learning_rate=1e-4,
               # The side branches (aux_logits=True) belong to the classifier top too.
               head_layers=("predictions", *(f"{aux}_{layer}" for aux in AUX_AFTER.values()
                                             for layer in ("conv", "conv_bn", "fc", "predictions"))),
               features=_features(INCEPTION_V1))
