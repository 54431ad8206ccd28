"""One object per image: classification with localisation, and landmark
detection (the course's steps before detection), as heads on any zoo
classifier's deepest feature map (global average pooling, then one Dense).

- "localizer": [p_c, b_x, b_y, b_h, b_w, c_1 .. c_C] per image, the course's
  order: p_c (is there an object? a logit), the box centre (b_x, b_y) and its
  height and width (b_h, b_w) relative to the image (0..1, raw regression
  outputs), and C class logits. Targets are the same vector with p_c 0 or 1
  and one-hot classes; the loss is `zoo.losses.LocalizationLoss`.
- "landmarker": [p, l_1x, l_1y, .., l_Lx, l_Ly] per image, `num_landmarks` L
  points relative to the image after the presence logit p (the course's face
  with 64 points: 1 + 128 outputs); the loss is `zoo.losses.LandmarkLoss`.

    model = zoo.build("localizer", backbone="mobilenet_v2", num_classes=3, input_shape=(128, 128, 3))
    model.compile(optimizer="adam", loss=zoo.losses.LocalizationLoss())
"""

from keras import layers

from zoo import layers as zl
from zoo.registry import register_model
from zoo.yolo import backbone_map, check_backbone_head

PAPER = ("Sermanet et al., OverFeat: Integrated Recognition, Localization and Detection using Convolutional "
         "Networks, ICLR 2014 (arXiv:1312.6229); Andrew Ng, Deep Learning Specialization, course 4, week 3")

DEFAULT_LANDMARKS = 4  # e.g. the four corners of an object


def _head_model(options, backbone, backbone_weights, units, output):
    """The backbone's deepest map, global average pooling, dropout if asked,
    and a Dense layer "predictions" of `units` raw outputs."""
    check_backbone_head(options, backbone, output)
    inputs, x, _ = backbone_map(options, backbone, backbone_weights)
    x = zl.global_pool(x, "avg")
    if options.dropout_or(0.0):
        x = layers.Dropout(options.dropout, name="top_dropout")(x)
    return options.finish(inputs, x, head=layers.Dense(units, name="predictions", dtype=zl.LOGITS_DTYPE))


def _build_localizer(options, *, backbone="mobilenet_v2", backbone_weights=None):
    """`backbone`: a zoo classifier; `backbone_weights`: its weights (None,
    "imagenet" or a path); `dropout` (default none) before the Dense layer."""
    return _head_model(options, backbone, backbone_weights, 5 + options.num_classes,
                       "[p_c, b_x, b_y, b_h, b_w, class logits]")


def _build_landmarker(options, *, backbone="mobilenet_v2", backbone_weights=None, num_landmarks=DEFAULT_LANDMARKS):
    """As the localizer, with `num_landmarks` points instead of a box and classes."""
    if isinstance(num_landmarks, bool) or not isinstance(num_landmarks, int) or num_landmarks < 1:
        raise ValueError(f"{options.name}: num_landmarks must be a positive int; got {num_landmarks!r}.")
    if options.num_classes != 1:
        raise ValueError(f"{options.name} predicts presence and points, not classes: give num_landmarks, "
                         f"not num_classes; got num_classes={options.num_classes!r}.")
    return _head_model(options, backbone, backbone_weights, 1 + 2 * num_landmarks,
                       "[presence, x_1, y_1, .., x_L, y_L]")


register_model("localizer", _build_localizer, paper=PAPER, input_shape=(224, 224, 3), num_classes=3, min_size=32,
               task="localization")
register_model("landmarker", _build_landmarker, paper=PAPER, input_shape=(224, 224, 3), num_classes=1,
               min_size=32, task="landmarks")
