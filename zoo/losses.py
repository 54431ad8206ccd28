"""Losses a user composes with zoo models (keras.losses.Loss subclasses).

`TripletLoss` mines the triplets of a batch of identity-labelled embeddings:
Keras 3 has no maintained one (TF Addons and TF Similarity do not import on it).

    model.compile(optimizer="adam", loss=zoo.losses.TripletLoss(mining="semi_hard"))
    model.fit(images, identity_labels, ...)   # batches of P identities x K images
"""

import keras
from keras import ops

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
