"""LeNet-5 (LeCun et al., 1998), "Gradient-Based Learning Applied to Document Recognition".

The 1998 layout: 32x32x1 input, C1 6@5x5, S2, C3 16@5x5, S4, C5 120@5x5,
F6 84, then 10 outputs, all convolutions "valid". Modern simplifications, as
usual: S2/S4 are plain pools (the paper's have a trainable coefficient and
bias per map), tanh is unscaled (the paper's is 1.7159 tanh(2a/3)), and the
output is a Dense layer giving logits (the paper's is Euclidean RBF units).
"""

import functools

from keras import layers

from zoo import layers as zl
from zoo.registry import register_model

PAPER = ("LeCun, Bottou, Bengio and Haffner, Gradient-Based Learning Applied to "
         "Document Recognition, Proc. IEEE 1998")

# conv name, feature maps, kernel size, name of the subsampling layer after it (None: none)
LENET5 = (
    ("c1", 6, 5, "s2"),
    ("c3", 16, 5, "s4"),
    ("c5", 120, 5, None),
)
F6_UNITS = 84
HIDDEN = (("f6", F6_UNITS),)  # the fully connected layers before the logits

# Table I of the paper: the S2 maps each of the 16 C3 maps reads. Maps 0-5
# read 3 contiguous maps, 6-11 four contiguous, 12-14 four discontinuous, 15 all.
PAPER_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# family kwarg values -> what they select (None: C3 fully connected)
C3_TABLES = {"full": None, "paper": PAPER_C3_TABLE}
ACTIVATIONS = {"tanh": "tanh", "relu": "relu"}
POOLS = {"avg": layers.AveragePooling2D, "max": layers.MaxPooling2D}


def _choose(argument, value, table):
    if value not in table:
        raise ValueError(f"lenet5: {argument} must be one of {', '.join(map(repr, table))}; "
                         f"got {value!r}.")
    return table[value]


def _conv(name, filters, kernel, connections):
    if connections is None:
        return layers.Conv2D(filters, kernel, name=name)
    return zl.ConnectionTableConv2D(connections, kernel, name=name)


def _features(config):
    """(stride, channels) after each subsampling layer, as `_build_lenet` appends them."""
    stride, features = 1, []
    for _, filters, _, pool_name in config:
        if pool_name:
            stride *= 2
            features.append((stride, filters))
    return features


def _build_lenet(config, options, *, activation="tanh", pool="avg", c3_table="full"):
    """`activation` "tanh" | "relu", `pool` "avg" | "max", `c3_table` "full" | "paper"."""
    activation = _choose("activation", activation, ACTIVATIONS)
    pool_layer = _choose("pool", pool, POOLS)
    tables = {"c3": _choose("c3_table", c3_table, C3_TABLES)}
    inputs = options.input()
    x, features = options.preprocess(inputs), []
    for name, filters, kernel, pool_name in config:
        x = _conv(name, filters, kernel, tables.get(name))(x)
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
        if pool_name:
            x = pool_layer(2, strides=2, name=pool_name)(x)
            features.append(x)
    head = options.dense_head(HIDDEN, default_dropout=0.0, activation=activation)
    return options.finish(inputs, x, features, head=head)


# name: (activation, pool, the harness's default augmentations). lenet5 is the 1998
# layout; lenet5_relu the common modern variant (ReLU, max pooling), which the
# harness's default job trains with random shifts: on scikit-learn's digits it
# reaches SVC's test accuracy where lenet5 stays near 98% (bench/accuracy.py).
LENETS = {
    "lenet5": ("tanh", "avg", ()),
    "lenet5_relu": ("relu", "max", ("crop",)),
}

for _name, (_activation, _pool, _augment) in LENETS.items():
    register_model(_name, functools.partial(_build_lenet, LENET5, activation=_activation, pool=_pool),
                   paper=PAPER, input_shape=(32, 32, 1), num_classes=10, min_size=32,
                   preprocessing="unit", augment=_augment,
                   head_layers=(*(name for name, _ in HIDDEN), "predictions"),
                   features=_features(LENET5))
