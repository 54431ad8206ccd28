"""Similarity learning on any zoo classifier: an embedding network, and the
Siamese verification network built from it.

`embedding` (FaceNet): a classifier's backbone without its top
(`include_top=False`, global pooling), optional dropout, a Dense projection to
`embedding_dim` and L2 normalisation, so ||f(x)|| = 1 and the squared distance
||f(x1) - f(x2)||^2 = 2 - 2 cos lies in [0, 4]. Train it with
`zoo.losses.TripletLoss`. The backbone is built into the same graph (one flat
model; its layers keep their names, so `backbone_weights`, e.g. "imagenet",
load and freeze by name) with its own input preprocessing: the model takes
0-255 pixels like every zoo model.

`siamese` (Koch et al.; DeepFace's verification head): one shared embedding
network, a nested model named "embedding", applied to two inputs; their
element-wise `zoo.layers.PairFeatures` ("abs" |f1 - f2| or "chi2") into one
logistic unit, logits by default (train with binary cross-entropy,
from_logits=True, on same/different pairs: zoo-train --model=siamese does, as the
pair_similarity task). Both features are symmetric in
f1 and f2, so the model is symmetric in its two inputs.

Neither has a classifier top: `include_top=False`, `features_only`,
`out_indices` and any `num_classes` but the entry's are refused. `pooling`
("avg" by default, or "max") pools the backbone; `dropout` (0 by default) goes
before the projection. The registry entries' facts (input shape, minimum size,
preprocessing) are those of the default backbone, resnet18: with another
backbone give `input_shape` for its size (the default stays 224x224x3).
"""

from keras import layers

from zoo import layers as zl
from zoo import resnet  # noqa: F401  (registers the default backbone, whose facts the entries repeat)
from zoo.registry import build, get_entry, register_model

EMBEDDING_PAPER = ("Schroff et al., FaceNet: A Unified Embedding for Face Recognition and "
                   "Clustering, CVPR 2015 (arXiv:1503.03832)")
SIAMESE_PAPER = ("Koch et al., Siamese Neural Networks for One-shot Image Recognition, ICML "
                 "Deep Learning Workshop 2015; Taigman et al., DeepFace, CVPR 2014")
DEFAULT_BACKBONE = "resnet18"
DEFAULT_EMBEDDING_DIM = 128
# What the embedding network sets on its backbone; backbone_args holds the rest (e.g. alpha).
_BACKBONE_SET = ("name", "input_shape", "input_tensor", "include_top", "pooling", "weights",
                 "include_preprocessing", "features_only", "out_indices")


def _check_no_classifier(options, num_classes, what):
    """Refuses the classifier arguments that mean nothing here (their defaults pass)."""
    fixed = {"include_top": (options.include_top, True),
             "features_only": (options.features_only, False),
             "out_indices": (options.out_indices, None),
             "num_classes": (options.num_classes, num_classes)}
    bad = [f"{k}={v!r}" for k, (v, default) in fixed.items() if v != default]
    if bad:
        raise ValueError(f"{options.name} has no classifier top ({what}); got {', '.join(bad)}. "
                         "Leave include_top, features_only, out_indices and num_classes out.")


def _check_embedding_args(options, backbone, embedding_dim, backbone_args):
    if not isinstance(backbone, str):
        raise ValueError(f"{options.name}: backbone must be the name of a zoo classification "
                         f"model (e.g. 'resnet18'); got {backbone!r}.")
    # Only classifiers declare features_only maps; get_entry lists close names for a typo.
    if get_entry(backbone).features is None:
        raise ValueError(f"{options.name}: backbone must be a zoo classification model (e.g. "
                         f"'resnet18'); {backbone!r} is a {get_entry(backbone).task} model.")
    if not isinstance(embedding_dim, int) or isinstance(embedding_dim, bool) or embedding_dim < 1:
        raise ValueError(f"{options.name}: embedding_dim must be a positive int; got {embedding_dim!r}.")
    if backbone_args is not None and not isinstance(backbone_args, dict):
        raise ValueError(f"{options.name}: backbone_args must be a dict of the backbone's own "
                         f"build arguments (e.g. {{'alpha': 0.5}}); got {backbone_args!r}.")
    clash = sorted(set(backbone_args or {}) & set(_BACKBONE_SET))
    if clash:
        raise ValueError(f"{options.name}: backbone_args may not set {', '.join(clash)}, which the "
                         "embedding sets itself (give input_shape, pooling and include_preprocessing "
                         "to zoo.build, backbone_weights for weights).")


def _projection(x, embedding_dim, dropout):
    """Dropout, the Dense projection and L2 normalisation, in float32 under any
    mixed-precision policy (distances need its range, as logits do)."""
    if dropout:
        x = layers.Dropout(dropout, name="embedding_dropout")(x)
    x = layers.Dense(embedding_dim, name="projection", dtype=zl.LOGITS_DTYPE)(x)
    return layers.UnitNormalization(name="l2_normalize", dtype=zl.LOGITS_DTYPE)(x)


def _build_embedding(options, *, backbone=DEFAULT_BACKBONE, embedding_dim=DEFAULT_EMBEDDING_DIM,
                     backbone_weights=None, backbone_args=None):
    _check_no_classifier(options, DEFAULT_EMBEDDING_DIM,
                         "its output is the L2-normalised embedding, embedding_dim wide")
    if options.classifier_activation is not None:
        raise ValueError(f"{options.name}: its output is an L2-normalised embedding, not logits; "
                         f"got classifier_activation={options.classifier_activation!r}. Leave it out.")
    _check_embedding_args(options, backbone, embedding_dim, backbone_args)
    features = build(backbone, **(backbone_args or {}), input_shape=options.input_shape,
                     input_tensor=options.input_tensor, include_top=False,
                     pooling=options.pooling or "avg", weights=backbone_weights,
                     include_preprocessing=options.include_preprocessing)
    return options.finish(features.inputs[0], features.output,
                          head=lambda x: _projection(x, embedding_dim, options.dropout_or(0.0)))


def _build_siamese(options, *, backbone=DEFAULT_BACKBONE, embedding_dim=DEFAULT_EMBEDDING_DIM,
                   head="abs", backbone_weights=None, backbone_args=None):
    _check_no_classifier(options, 1, "its output is one same/different logit")
    if options.input_tensor is not None:
        raise ValueError(f"{options.name} takes two inputs, so it cannot be built on one "
                         "input_tensor; leave input_tensor out.")
    if head not in zl.PairFeatures.MODES:
        raise ValueError(f"{options.name}: head must be one of "
                         f"{', '.join(map(repr, zl.PairFeatures.MODES))}; got {head!r}.")
    embedding = build("embedding", name="embedding", backbone=backbone, embedding_dim=embedding_dim,
                      input_shape=options.input_shape, pooling=options.pooling,
                      dropout=options.dropout, include_preprocessing=options.include_preprocessing,
                      backbone_weights=backbone_weights, backbone_args=backbone_args)
    first, second = (layers.Input(options.input_shape, name=f"input_{side}") for side in "ab")
    pair = zl.PairFeatures(head, name="pair_features", dtype=zl.LOGITS_DTYPE)(
        [embedding(first), embedding(second)])
    unit = layers.Dense(1, activation=options.classifier_activation, name="predictions",
                        dtype=zl.LOGITS_DTYPE)
    return options.finish([first, second], pair, head=unit)


_DEFAULT = get_entry(DEFAULT_BACKBONE)
_FACTS = dict(input_shape=_DEFAULT.input_shape, min_size=_DEFAULT.min_size,
              preprocessing=_DEFAULT.preprocessing, input_range=_DEFAULT.input_range,
              task="similarity")
register_model("embedding", _build_embedding, paper=EMBEDDING_PAPER,
               num_classes=DEFAULT_EMBEDDING_DIM, head_layers=("projection",), **_FACTS)
register_model("siamese", _build_siamese, paper=SIAMESE_PAPER, num_classes=1,
               head_layers=("predictions",), **{**_FACTS, "task": "pair_similarity"})
