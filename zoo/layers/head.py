"""Classifier heads: global pooling, dropout and logits."""

from keras import layers

from zoo.layers.rank import nd

# The logits layer computes in float32 under any mixed-precision policy: the loss
# and the softmax need float32's range, and a caller gets float32 logits (as
# Keras' mixed-precision guide asks of a model's last layer). Weights unchanged.
LOGITS_DTYPE = "float32"

_POOL_NAMES = {"avg": "avg_pool", "max": "max_pool"}


def global_pool(x, pooling, keepdims=False):
    """`pooling` in (None, "avg", "max"): the feature map, or its global pool."""
    if pooling is None:
        return x
    rank = nd(x)
    layer = rank.GlobalAveragePooling if pooling == "avg" else rank.GlobalMaxPooling
    return layer(keepdims=keepdims, name=_POOL_NAMES[pooling])(x)


def classifier_head(x, num_classes, *, dropout=0.0, activation=None):
    """Global average pool, dropout, then a Dense layer giving logits by default."""
    x = global_pool(x, "avg")
    if dropout:
        x = layers.Dropout(dropout, name="top_dropout")(x)
    return layers.Dense(num_classes, activation=activation, name="predictions", dtype=LOGITS_DTYPE)(x)


def dense_head(x, num_classes, hidden, *, activation="relu", dropout=0.0, classifier_activation=None):
    """Flatten, fully connected layers `hidden` = ((name, units), ...) each followed
    by dropout, then logits: the head of LeNet-5, AlexNet and VGG."""
    x = layers.Flatten(name="flatten")(x)
    for name, units in hidden:
        x = layers.Dense(units, activation=activation, name=name)(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, activation=classifier_activation, name="predictions",
                        dtype=LOGITS_DTYPE)(x)
