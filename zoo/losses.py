"""Losses a user composes with zoo models (keras.losses.Loss subclasses).

`TripletLoss` mines the triplets of a batch of identity-labelled embeddings:
Keras 3 has no maintained one (TF Addons and TF Similarity do not import on it).

    model.compile(optimizer="adam", loss=zoo.losses.TripletLoss(mining="semi_hard"))
    model.fit(images, identity_labels, ...)   # batches of P identities x K images

`YoloLoss` is YOLOv2's loss on `zoo.boxes.yolo_encode` targets (the "yolo" model);
`LocalizationLoss` and `LandmarkLoss` the course's squared errors for one object
per image ("localizer", "landmarker"), masked where no object is.
"""

import keras
from keras import ops

from zoo import boxes as zb
from zoo.layers.detection import check_anchors

DISTANCES = ("squared_l2", "l2", "cosine")
MININGS = ("all", "hard", "semi_hard")


def _names(values):
    return ", ".join(map(repr, values))


def pairwise_distances(embeddings, distance="squared_l2"):
    """The [B, B] float32 distances between the rows of `embeddings` [B, D],
    exactly 0 on the diagonal.

    "squared_l2": ||a - b||^2 (FaceNet); "l2": ||a - b||, whose gradient is kept
    finite at distance 0 (an exact 0 has gradient 0, as TF Addons does);
    "cosine": 1 - cos(a, b), in [0, 2] (the rows are normalised first).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {_names(DISTANCES)}; got {distance!r}.")
    x = ops.cast(embeddings, "float32")
    if distance == "cosine":
        x = ops.normalize(x, axis=-1, epsilon=1e-12)
        d = 1.0 - ops.matmul(x, ops.transpose(x))
    else:
        squares = ops.sum(ops.square(x), axis=-1)
        d = squares[:, None] + squares[None, :] - 2.0 * ops.matmul(x, ops.transpose(x))
    # Rounding leaves equal rows slightly negative or positive; the diagonal is exactly 0.
    index = ops.arange(ops.shape(x)[0])
    d = ops.where(index[:, None] == index[None, :], 0.0, ops.maximum(d, 0.0))
    if distance == "l2":
        nonzero = d > 0.0
        d = ops.where(nonzero, ops.sqrt(ops.where(nonzero, d, 1.0)), 0.0)
    return d


def _masked_mean(values, mask):
    """The mean of `values` where `mask`; 0 (with zero, finite gradients) where nothing is."""
    count = ops.sum(ops.cast(mask, "float32"))
    return ops.sum(ops.where(mask, values, 0.0)) / ops.maximum(count, 1.0)


@keras.saving.register_keras_serializable(package="zoo")
class TripletLoss(keras.losses.Loss):
    """The triplet loss over the triplets a batch mines, called as
    `loss(labels, embeddings)`: integer identity labels [B] (or [B, 1]) and
    embeddings [B, D]. Returns a scalar.

    A triplet (a, p, n) has label[p] == label[a], p != a, and label[n] != label[a];
    its loss is max(d(a, p) - d(a, n) + margin, 0), or with `soft=True` the soft
    margin log(1 + exp(d(a, p) - d(a, n))) (Hermans et al., 2017), which has no
    margin (`margin` is then unused). `distance`: "squared_l2" (FaceNet's, the
    default), "l2" or "cosine" (see `pairwise_distances`).

    `mining`:
    - "all" (batch-all): the mean over all triplets with a positive loss
      (over all triplets with `soft=True`, whose loss is always positive);
    - "hard" (batch-hard, Hermans et al.): per anchor with a positive in the
      batch, the hardest positive (largest d(a, p)) against the hardest negative
      (smallest d(a, n)); the mean over those anchors. TF Addons' also averages
      anchors without a positive, with d(a, p) = 0;
    - "semi_hard" (FaceNet, as TF Addons' triplet_semihard_loss defines it):
      per anchor-positive pair, the closest negative farther than the positive
      (d(a, n) > d(a, p)), or the farthest negative if none is; the mean over
      all anchor-positive pairs.

    A batch without a triplet (one identity only, or no identity twice) gives
    0, as does a batch where no triplet violates the margin, with zero and
    finite gradients: sample P identities x K images per batch (P >= 2, K >= 2).
    """

    def __init__(self, margin=0.2, mining="semi_hard", soft=False, distance="squared_l2",
                 name="triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0:
            raise ValueError(f"TripletLoss: margin must be a number >= 0; got {margin!r}.")
        if mining not in MININGS:
            raise ValueError(f"TripletLoss: mining must be one of {_names(MININGS)}; got {mining!r}.")
        if not isinstance(soft, bool):
            raise ValueError(f"TripletLoss: soft must be True or False; got {soft!r}.")
        if distance not in DISTANCES:
            raise ValueError(f"TripletLoss: distance must be one of {_names(DISTANCES)}; "
                             f"got {distance!r}.")
        self.margin, self.mining, self.soft, self.distance = float(margin), mining, soft, distance

    def _triplet(self, gap):
        """The loss of triplets whose d(a, p) - d(a, n) is `gap`."""
        return ops.softplus(gap) if self.soft else ops.relu(gap + self.margin)

    def call(self, y_true, y_pred):
        if len(y_pred.shape) != 2:
            raise ValueError(f"TripletLoss: embeddings must be [batch, dim]; got shape {tuple(y_pred.shape)}.")
        labels = ops.reshape(y_true, (-1,))
        if labels.shape[0] is not None and y_pred.shape[0] is not None and labels.shape[0] != y_pred.shape[0]:
            raise ValueError(f"TripletLoss: one label per embedding; got labels of shape "
                             f"{tuple(y_true.shape)} for embeddings of shape {tuple(y_pred.shape)}.")
        d = pairwise_distances(y_pred, self.distance)
        same = labels[:, None] == labels[None, :]
        index = ops.arange(ops.shape(labels)[0])
        positive = same & (index[:, None] != index[None, :])
        negative = ~same
        return getattr(self, f"_{self.mining}")(d, positive, negative)

    def _all(self, d, positive, negative):
        losses = self._triplet(d[:, :, None] - d[:, None, :])  # [a, p, n]
        triplets = positive[:, :, None] & negative[:, None, :]
        return _masked_mean(losses, triplets & (losses > 0.0))

    def _hard(self, d, positive, negative):
        # d >= 0, so 0 never beats a positive and the batch's largest distance never beats a negative.
        hardest_positive = ops.max(ops.where(positive, d, 0.0), axis=1)
        hardest_negative = ops.min(ops.where(negative, d, ops.stop_gradient(ops.max(d))), axis=1)
        anchors = ops.any(positive, axis=1) & ops.any(negative, axis=1)
        return _masked_mean(self._triplet(hardest_positive - hardest_negative), anchors)

    def _semi_hard(self, d, positive, negative):
        farther = negative[:, None, :] & (d[:, None, :] > d[:, :, None])  # [a, p, n]
        closest_farther = ops.min(ops.where(farther, d[:, None, :], ops.stop_gradient(ops.max(d))), axis=2)
        farthest = ops.max(ops.where(negative, d, 0.0), axis=1)
        chosen = ops.where(ops.any(farther, axis=2), closest_farther, farthest[:, None])  # [a, p]
        pairs = positive & ops.any(negative, axis=1)[:, None]
        return _masked_mean(self._triplet(d - chosen), pairs)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "mining": self.mining,
                "soft": self.soft, "distance": self.distance}


@keras.saving.register_keras_serializable(package="zoo")
class YoloLoss(keras.losses.Loss):
    """YOLOv2's loss between `zoo.boxes.yolo_encode` targets [batch, S_h, S_w,
    B, 6] and a YOLO model's raw grid [batch, S_h, S_w, B, 5 + C] (`zoo.yolo`).

    Summed over the grid of each image (one loss per image), the mean over the
    batch by default. With the (cell, anchor) slots that hold a box
    "responsible" and the rest "background":

    - coordinates (`coord_weight`): over responsible slots,
      |sigmoid(t_xy) - target offset|^2 + |t_wh - log(box / anchor)|^2,
      times Darknet's (2 - w h) (w, h the box's size relative to the image:
      small boxes, whose offsets cost more IoU per cell unit, weigh up to
      twice as much; `size_scale=False`: times 1);
    - objectness (`object_weight`): over responsible slots,
      (sigmoid(t_o) - target)^2, the target being the IoU of the predicted box
      with its box (`rescore=True`: YOLOv2 predicts the IoU; held constant) or 1;
    - no-object (`noobject_weight`): over background slots, sigmoid(t_o)^2,
      except where the predicted box already overlaps one of the image's boxes
      by IoU > `ignore_threshold` (0.6 in YOLOv2): such a prediction is not
      pushed down as background;
    - class (`class_weight`): over responsible slots, the softmax cross-entropy
      of the class logits. (Darknet adds (one-hot - softmax) to the logits'
      gradient: that is this gradient.)

    The default weights are Darknet's yolo-voc.cfg (coord 1, object 5,
    noobject 1, class 1). Not included: Darknet's early "match the anchor
    shape" term for the first 12,800 images.

    The image's boxes for the ignore rule are read back from the targets
    (every placed box; boxes `yolo_encode` dropped on a full cell are not
    there), so the loss needs only (y_true, y_pred): it builds one
    [S_h S_w B, S_h S_w B] IoU matrix per image.
    """

    TERMS = ("coordinates", "objectness", "noobject", "class")

    def __init__(self, anchors, *, coord_weight=1.0, object_weight=5.0, noobject_weight=1.0, class_weight=1.0,
                 ignore_threshold=0.6, rescore=True, size_scale=True, name="yolo_loss",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.anchors = check_anchors(anchors, "YoloLoss: anchors")
        self.term_weights = {"coordinates": float(coord_weight), "objectness": float(object_weight),
                        "noobject": float(noobject_weight), "class": float(class_weight)}
        for term, weight in self.term_weights.items():
            if not weight >= 0:
                raise ValueError(f"YoloLoss: the {term} weight must be >= 0; got {weight!r}.")
        if not 0.0 <= float(ignore_threshold) <= 1.0:
            raise ValueError(f"YoloLoss: ignore_threshold must be in [0, 1]; got {ignore_threshold!r}.")
        self.ignore_threshold = float(ignore_threshold)
        self.rescore = bool(rescore)
        self.size_scale = bool(size_scale)

    def _check_shapes(self, y_true, y_pred):
        true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
        num_anchors = len(self.anchors)
        fits = (len(true_shape) == len(pred_shape) == 5 and true_shape[-1] == 6
                and (pred_shape[-1] is None or pred_shape[-1] >= 6) and pred_shape[-2] == num_anchors
                and true_shape[1:4] == pred_shape[1:4])
        if not fits:
            raise ValueError(f"YoloLoss takes targets [batch, rows, columns, {num_anchors}, 6] "
                             f"(zoo.boxes.yolo_encode) and predictions [batch, rows, columns, {num_anchors}, "
                             f"5 + classes] of the same grid; got {true_shape} and {pred_shape}.")

    def terms(self, y_true, y_pred):
        """The four terms, unweighted: {name: [batch]}."""
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        self._check_shapes(y_true, y_pred)
        responsible = y_true[..., 4]
        background = 1.0 - responsible
        batch = ops.shape(y_pred)[0]
        grid = (ops.cast(ops.shape(y_pred)[1], "float32"), ops.cast(ops.shape(y_pred)[2], "float32"))

        def per_image(values):  # [batch, rows, columns, B] -> [batch]
            return ops.sum(ops.reshape(values, (batch, -1)), axis=1)

        xy_error = ops.sum(ops.square(ops.sigmoid(y_pred[..., 0:2]) - y_true[..., 0:2]), axis=-1)
        wh_error = ops.sum(ops.square(y_pred[..., 2:4] - y_true[..., 2:4]), axis=-1)
        coord_scale = 1.0

        # Boxes in grid cells (an image of grid size: IoU does not depend on the scale).
        pred_boxes, objectness = zb.yolo_decode(y_pred, anchors=self.anchors, image_size=grid)
        true_boxes, _ = zb.yolo_decode(y_true, anchors=self.anchors, image_size=grid, from_logits=False)
        if self.size_scale:  # 2 - w h, relative to the image (here grid cells / grid size)
            true_size = true_boxes[..., 2:4] - true_boxes[..., 0:2]
            coord_scale = 2.0 - true_size[..., 0] * true_size[..., 1] / (grid[0] * grid[1])
        pred_flat, true_flat = ops.reshape(pred_boxes, (batch, -1, 4)), ops.reshape(true_boxes, (batch, -1, 4))
        overlaps = zb.iou(pred_flat, true_flat) * ops.reshape(responsible, (batch, 1, -1))
        best = ops.reshape(ops.max(overlaps, axis=-1), ops.shape(responsible))
        counted = background * ops.cast(best <= self.ignore_threshold, "float32")

        target = ops.stop_gradient(zb.iou(pred_boxes, true_boxes, pairwise=False)) if self.rescore else 1.0
        labels = ops.cast(y_true[..., 5], "int32")
        class_error = keras.losses.sparse_categorical_crossentropy(labels, y_pred[..., 5:], from_logits=True)
        return {"coordinates": per_image(responsible * coord_scale * (xy_error + wh_error)),
                "objectness": per_image(responsible * ops.square(objectness - target)),
                "noobject": per_image(counted * ops.square(objectness)),
                "class": per_image(responsible * class_error)}

    def call(self, y_true, y_pred):
        terms = self.terms(y_true, y_pred)
        return sum(self.term_weights[name] * terms[name] for name in self.TERMS)

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.tolist(),
                "coord_weight": self.term_weights["coordinates"], "object_weight": self.term_weights["objectness"],
                "noobject_weight": self.term_weights["noobject"], "class_weight": self.term_weights["class"],
                "ignore_threshold": self.ignore_threshold, "rescore": self.rescore, "size_scale": self.size_scale}


class _PresenceMaskedLoss(keras.losses.Loss):
    """(p_hat - p)^2 + p * (squared errors of the rest): the course's loss for one
    object per image, whose box, class and point terms count only where the
    target says an object is there (p = 1). One loss per example."""

    def __init__(self, *, from_logits=True, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def _probabilities(self, y_pred):
        """y_pred with its logits (presence, classes) as probabilities."""
        raise NotImplementedError

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        if len(y_true.shape) != 2 or tuple(y_true.shape)[-1] != tuple(y_pred.shape)[-1]:
            raise ValueError(f"{type(self).__name__} takes targets and predictions [batch, outputs] of the same "
                             f"layout; got {tuple(y_true.shape)} and {tuple(y_pred.shape)}.")
        if self.from_logits:
            y_pred = self._probabilities(y_pred)
        presence = y_true[:, 0]
        rest = ops.sum(ops.square(y_pred[:, 1:] - y_true[:, 1:]), axis=-1)
        return ops.square(y_pred[:, 0] - presence) + presence * rest

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="zoo")
class LocalizationLoss(_PresenceMaskedLoss):
    """The course's squared-error loss for classification with localisation,
    on the "localizer" layout [p_c, b_x, b_y, b_h, b_w, c_1 .. c_C]:

        (p_hat - p_c)^2 + p_c * (|b_hat - b|^2 + |c_hat - c|^2)

    Targets hold p_c 0 or 1 and one-hot classes; where p_c = 0 the box and
    classes are "don't care" and cost nothing. `from_logits=True` (the model's
    raw outputs) reads p_hat through a sigmoid and c_hat through a softmax.
    """

    def __init__(self, *, from_logits=True, name="localization_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(from_logits=from_logits, name=name, reduction=reduction, dtype=dtype)

    def _probabilities(self, y_pred):
        return ops.concatenate([ops.sigmoid(y_pred[:, :1]), y_pred[:, 1:5], ops.softmax(y_pred[:, 5:], axis=-1)],
                               axis=-1)


@keras.saving.register_keras_serializable(package="zoo")
class LandmarkLoss(_PresenceMaskedLoss):
    """The squared-error loss for landmarks, on the "landmarker" layout
    [p, x_1, y_1, .., x_L, y_L]: (p_hat - p)^2 + p * |l_hat - l|^2, the point
    terms masked where the target has no object (p = 0). `from_logits=True`
    reads p_hat through a sigmoid."""

    def __init__(self, *, from_logits=True, name="landmark_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(from_logits=from_logits, name=name, reduction=reduction, dtype=dtype)

    def _probabilities(self, y_pred):
        return ops.concatenate([ops.sigmoid(y_pred[:, :1]), y_pred[:, 1:]], axis=-1)
