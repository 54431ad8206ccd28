"""Verification (1:1) and one-shot identification (1:K) numbers for embeddings or any
feature vectors, with scikit-learn's ROC.

Every pair (i, j), i < j, of a split is scored by the squared L2 distance of its
features: a small distance says "same identity". The ROC is scikit-learn's
`roc_curve` on the negated distances. A threshold t accepts a pair as the same
identity when its distance is <= t:

- `roc_auc`: the probability that a random same pair is closer than a random
  different pair (ties count half);
- `equal_error_rate`: where the false accept rate equals the false reject rate
  (1 - TAR), interpolated linearly between the two ROC points around it;
- `tar_at_far(far)`: the best true accept rate of any threshold whose false
  accept rate is at most `far`;
- `threshold_at_far(far)`: that threshold, calibrated on one split's pairs,
  so its false accept rate on those pairs is at most `far`;
- `one_shot_accuracy`: K-way one-shot identification top-1: per draw, K
  identities, one enrolled (gallery) image and one query image each; a query
  is right when its nearest gallery image is its identity's. The mean over draws.
"""

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from training.errors import DataError

REPORTED_FARS = (1e-2, 1e-3)


def squared_distances(a, b=None):
    """[len(a), len(b)] squared L2 distances between the rows of `a` and `b` (default
    `a`), in float64, clipped at 0 against rounding."""
    a = np.reshape(np.asarray(a, np.float64), (len(a), -1))
    b = a if b is None else np.reshape(np.asarray(b, np.float64), (len(b), -1))
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def pairs(features, labels):
    """(distances, same) of every pair i < j of `features` [N, ...] with identity `labels` [N]."""
    labels = np.reshape(labels, (-1,))
    if len(labels) != len(features):
        raise DataError(f"one label per feature vector; got {len(labels)} labels for "
                        f"{len(features)} vectors.")
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    if same.all() or not same.any():
        raise DataError(f"verification needs same and different pairs: {len(labels)} images of "
                        f"{len(np.unique(labels))} identities give {int(same.sum())} same and "
                        f"{int((~same).sum())} different pairs.")
    return squared_distances(features)[i, j], same


def roc(distances, same):
    """(false accept rates, true accept rates, distance thresholds) of every threshold,
    from accepting nothing (threshold -inf) to accepting all."""
    far, tar, scores = roc_curve(same, -np.asarray(distances), drop_intermediate=False)
    return far, tar, -scores


def roc_auc(distances, same):
    return float(roc_auc_score(same, -np.asarray(distances)))


def equal_error_rate(distances, same):
    far, tar, _ = roc(distances, same)
    gap = (1.0 - tar) - far  # false rejects minus false accepts: falls from 1 to -1
    i = int(np.argmax(gap <= 0.0))  # the first point where false accepts caught up
    if gap[i] == 0.0:
        return float(far[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(far[i - 1] + t * (far[i] - far[i - 1]))


def threshold_at_far(distances, same, far):
    """(threshold, its false accept rate, its true accept rate) on these pairs: the
    threshold with the best TAR among those whose FAR is at most `far`."""
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be in [0, 1]; got {far!r}.")
    fars, tars, thresholds = roc(distances, same)
    i = int(np.flatnonzero(fars <= far)[-1])  # FAR and TAR rise together: the last is best
    return float(thresholds[i]), float(fars[i]), float(tars[i])


def tar_at_far(distances, same, far):
    return threshold_at_far(distances, same, far)[2]


def one_shot_accuracy(features, labels, *, way=10, draws=1000, seed=0):
    """(mean top-1 over `draws` one-shot draws, the way used): each draw takes
    min(`way`, identities with two images or more) identities at random, one
    gallery image and one other, query, image of each."""
    labels = np.reshape(labels, (-1,))
    identities, counts = np.unique(labels, return_counts=True)
    identities, counts = identities[counts >= 2], counts[counts >= 2]
    if len(identities) < 2:
        raise DataError(f"one-shot identification needs 2 identities with 2 images or more; "
                        f"{len(identities)} have that many.")
    way = min(int(way), len(identities))
    rng = np.random.default_rng(seed)
    # Row c: the image indices of identity c, padded to the longest.
    table = np.zeros((len(identities), counts.max()), np.int64)
    for row, identity in zip(table, identities):
        members = np.flatnonzero(labels == identity)
        row[:len(members)] = members
    chosen = np.argsort(rng.random((draws, len(identities))), axis=1)[:, :way]  # [draws, way]
    n = counts[chosen]
    first = (rng.random(chosen.shape) * n).astype(np.int64)
    second = (first + 1 + (rng.random(chosen.shape) * (n - 1)).astype(np.int64)) % n  # != first
    gallery, query = table[chosen, first], table[chosen, second]
    distances = squared_distances(features)[query[:, :, None], gallery[:, None, :]]
    hits = np.argmin(distances, axis=2) == np.arange(way)[None, :]
    return float(hits.mean()), way


def pair_report(calibration, test, *, target_far=1e-3):
    """The verification numbers of the `test` = (distances, same) pairs, with the
    threshold for `target_far` calibrated on the `calibration` = (distances, same)
    pairs and measured on the test pairs too. Any score where lower means "same"
    is a distance here (a pair model's negated logit)."""
    distances, same = test
    threshold, calibration_far, _ = threshold_at_far(*calibration, target_far)
    accepted = distances <= threshold
    return {"roc_auc": roc_auc(distances, same), "eer": equal_error_rate(distances, same),
            **{f"tar_at_far_{far:g}": tar_at_far(distances, same, far) for far in REPORTED_FARS},
            "threshold": threshold, "threshold_target_far": target_far,
            "threshold_calibration_far": calibration_far,
            "threshold_test_far": float(accepted[~same].mean()),
            "threshold_test_tar": float(accepted[same].mean()),
            "pairs": {"same": int(same.sum()), "different": int((~same).sum())}}


def report(calibration, test, *, target_far=1e-3, way=10, draws=1000, seed=0):
    """The verification and identification numbers of `test` = (features, labels)
    over all its pairs, with the threshold for `target_far` calibrated on
    `calibration` = (features, labels) (see `pair_report`)."""
    numbers = pair_report(pairs(*calibration), pairs(*test), target_far=target_far)
    top1, way = one_shot_accuracy(*test, way=way, draws=draws, seed=seed)
    return {**numbers, "one_shot_top1": top1, "one_shot_way": way, "one_shot_draws": draws}
