"""zoo.losses.TripletLoss against a brute-force reference over all triplets
(numpy loops, float64), by hand on a tiny batch, and at its edges."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.losses import DISTANCES, MININGS, TripletLoss, pairwise_distances

# --- the reference: every triplet, one at a time ------------------------------


def reference_distances(embeddings, distance):
    e = np.asarray(embeddings, "float64")
    if distance == "cosine":
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
    size = len(e)
    d = np.zeros((size, size))
    for i, j in itertools.product(range(size), repeat=2):
        squared = np.sum((e[i] - e[j]) ** 2)
        d[i, j] = {"squared_l2": squared, "l2": np.sqrt(squared), "cosine": 1.0 - e[i] @ e[j]}[distance]
    return d


def reference_loss(labels, embeddings, *, margin, mining, soft, distance):
    d = reference_distances(embeddings, distance)
    size = len(labels)

    def loss(a, p, n_distance):
        gap = d[a, p] - n_distance
        return np.log1p(np.exp(gap)) if soft else max(gap + margin, 0.0)

    triplets = [(a, p, n) for a, p, n in itertools.product(range(size), repeat=3)
                if p != a and labels[p] == labels[a] and labels[n] != labels[a]]
    if mining == "all":
        losses = [loss(a, p, d[a, n]) for a, p, n in triplets]
        counted = [value for value in losses if value > 0]
    elif mining == "hard":
        # The loss grows with d(a, p) - d(a, n): an anchor's hardest triplet has the largest loss.
        worst = {}
        for a, p, n in triplets:
            worst[a] = max(worst.get(a, 0.0), loss(a, p, d[a, n]))
        counted = list(worst.values())
    else:  # semi_hard, as TF Addons' triplet_semihard_loss
        counted = []
        for a, p in sorted({(a, p) for a, p, _ in triplets}):
            negatives = [d[a, n] for n in range(size) if labels[n] != labels[a]]
            farther = [value for value in negatives if value > d[a, p]]
            counted.append(loss(a, p, min(farther) if farther else max(negatives)))
    return float(np.mean(counted)) if counted else 0.0


def random_batch(seed, identities=4, per_identity=3, dim=8, singletons=0):
    """Unit embeddings, a little clustered by identity so that some triplets
    violate the margin and some do not; labels shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.repeat(np.arange(identities), per_identity),
                             identities + np.arange(singletons)])
    rng.shuffle(labels)
    centres = rng.normal(size=(identities + singletons, dim))
    embeddings = centres[labels] + rng.normal(scale=1.2, size=(len(labels), dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return labels, embeddings.astype("float32")


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("mining", MININGS)
def test_matches_the_brute_force_reference(mining, distance, soft):
    checked = []
    for seed, shape in enumerate([dict(), dict(identities=3, per_identity=4, singletons=2),
                                  dict(identities=6, per_identity=2, dim=16)]):
        labels, embeddings = random_batch(seed, **shape)
        margin = 0.3 if distance == "cosine" else 0.6
        expected = reference_loss(labels, embeddings, margin=margin, mining=mining, soft=soft,
                                  distance=distance)
        loss = TripletLoss(margin=margin, mining=mining, soft=soft, distance=distance)
        np.testing.assert_allclose(float(loss(labels, embeddings)), expected, rtol=2e-5, atol=1e-6)
        checked.append(expected)
    assert min(checked) > 0  # the batches have something to mine


def test_batches_hold_both_easy_and_violating_triplets():
    # Otherwise batch-all's "mean over positive losses" would equal the plain mean.
    labels, embeddings = random_batch(0)
    d = reference_distances(embeddings, "squared_l2")
    gaps = [d[a, p] - d[a, n] + 0.6 for a, p, n in itertools.product(range(len(labels)), repeat=3)
            if a != p and labels[a] == labels[p] and labels[a] != labels[n]]
    assert 0.2 < np.mean(np.array(gaps) > 0) < 0.9


def test_by_hand_on_a_line():
    # Embeddings on a line: A at 0, its positive at 1, negatives at 1.5 and 3 (squared L2).
    labels = np.array([0, 0, 1, 1])
    points = np.array([[0.0], [1.0], [1.5], [3.0]], "float32")
    # Anchor 0: d(a,p) = 1, negatives at 2.25 and 9. Anchor 1: d(a,p) = 1, negatives 0.25, 4.
    # Anchor 2: d(a,p) = 2.25, negatives 2.25 and 0.25. Anchor 3: d(a,p) = 2.25, negatives 9, 4.
    margin = 1.5
    hard = np.mean([max(1 - 2.25 + margin, 0), max(1 - 0.25 + margin, 0),
                    max(2.25 - 0.25 + margin, 0), max(2.25 - 4 + margin, 0)])
    # Semi-hard: anchor 0 takes 2.25 (> 1); anchor 1 takes 4 (> 1); anchor 2 has no negative
    # farther than 2.25 (2.25 is not farther) and falls back to its farthest, 2.25; anchor 3 takes 4.
    semi_hard = np.mean([max(1 - 2.25 + margin, 0), max(1 - 4 + margin, 0),
                         max(2.25 - 2.25 + margin, 0), max(2.25 - 4 + margin, 0)])
    # All: the 8 triplets' losses 0.25, 0, 2.25, 0, 1.5, 3.5, 0, 0 -> mean of the 4 positive ones.
    every = np.mean([0.25, 2.25, 1.5, 3.5])
    for mining, expected in (("hard", hard), ("semi_hard", semi_hard), ("all", every)):
        loss = TripletLoss(margin=margin, mining=mining)
        assert float(loss(labels, points)) == pytest.approx(expected, abs=1e-6), mining


def gradient(loss, labels, embeddings):
    embeddings = tf.Variable(embeddings)
    with tf.GradientTape() as tape:
        value = loss(labels, embeddings)
    return float(value), tape.gradient(value, embeddings).numpy()


@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("distance", DISTANCES)
def test_nothing_to_learn_gives_zero_and_finite_gradients(mining, distance):
    # Two tight, far apart identities (duplicates included: l2 at distance 0).
    labels = np.array([0, 0, 0, 1, 1])
    embeddings = np.array([[1, 0], [1, 0], [0.99, 0.01], [-1, 0], [-1, 0]], "float32")
    value, grads = gradient(TripletLoss(margin=0.1, mining=mining, distance=distance), labels, embeddings)
    assert value == 0.0 and np.isfinite(grads).all() and not grads.any()


@pytest.mark.parametrize("mining", MININGS)
def test_l2_gradient_is_finite_at_zero_distance(mining):
    # Duplicated embeddings in a batch that still violates the margin.
    labels = np.array([0, 0, 1, 1])
    embeddings = np.array([[1, 0], [1, 0], [0.8, 0.6], [0.8, 0.6]], "float32")
    value, grads = gradient(TripletLoss(margin=1.0, mining=mining, distance="l2"), labels, embeddings)
    assert value > 0 and np.isfinite(grads).all() and grads.any()


@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("labels", [[3, 3, 3, 3], [0, 1, 2, 3]], ids=["one_identity", "no_pairs"])
def test_a_batch_without_triplets_gives_zero(mining, labels):
    embeddings = random_batch(0)[1][:4]
    value, grads = gradient(TripletLoss(mining=mining), np.array(labels), embeddings)
    assert value == 0.0 and np.isfinite(grads).all() and not grads.any()


def test_pairwise_distances_match_the_reference():
    _, embeddings = random_batch(1)
    embeddings = embeddings * 3.0  # not unit: cosine must normalise itself
    for distance in DISTANCES:
        d = keras.ops.convert_to_numpy(pairwise_distances(embeddings, distance))
        np.testing.assert_allclose(d, reference_distances(embeddings, distance), atol=2e-5)
        assert (np.diag(d) == 0).all()


def test_labels_as_a_column_floats_and_in_a_graph_with_unknown_batch():
    labels, embeddings = random_batch(2)
    loss = TripletLoss(mining="all")
    expected = float(loss(labels, embeddings))
    assert float(loss(labels[:, None].astype("float32"), embeddings)) == pytest.approx(expected)
    graph = tf.function(loss, input_signature=[tf.TensorSpec([None], tf.int32),
                                               tf.TensorSpec([None, 8], tf.float32)])
    assert float(graph(labels.astype("int32"), embeddings)) == pytest.approx(expected, rel=1e-6)


def test_bfloat16_embeddings_give_a_float32_loss():
    labels, embeddings = random_batch(3)
    value = TripletLoss()(labels, tf.cast(embeddings, tf.bfloat16))
    assert value.dtype == tf.float32 and np.isfinite(float(value))


def test_config_round_trip_and_keras_serialization():
    loss = TripletLoss(margin=0.5, mining="hard", soft=True, distance="cosine", name="hard_triplets")
    config = loss.get_config()
    assert {k: config[k] for k in ("margin", "mining", "soft", "distance", "name")} == dict(
        margin=0.5, mining="hard", soft=True, distance="cosine", name="hard_triplets")
    copy = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(copy, TripletLoss) and copy.get_config() == config
    labels, embeddings = random_batch(4)
    assert float(copy(labels, embeddings)) == float(loss(labels, embeddings))
    assert zoo.losses.TripletLoss is TripletLoss


@pytest.mark.parametrize("kwargs, message", [
    (dict(mining="hardest"), r"mining must be one of 'all', 'hard', 'semi_hard'; got 'hardest'"),
    (dict(distance="l1"), r"distance must be one of 'squared_l2', 'l2', 'cosine'; got 'l1'"),
    (dict(margin=-0.1), r"margin must be a number >= 0; got -0.1"),
    (dict(soft="yes"), r"soft must be True or False; got 'yes'"),
])
def test_bad_arguments_get_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TripletLoss(**kwargs)


def test_bad_shapes_get_one_clear_error():
    labels, embeddings = random_batch(0)
    with pytest.raises(ValueError, match=r"one label per embedding; got labels of shape \(11,\)"):
        TripletLoss()(labels[:-1], embeddings)
    with pytest.raises(ValueError, match=r"embeddings must be \[batch, dim\]; got shape \(12, 2, 4\)"):
        TripletLoss()(labels, embeddings.reshape(12, 2, 4))
