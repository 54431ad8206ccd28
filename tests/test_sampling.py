"""training/sampling.py: P x K batches for triplet mining."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import zoo
from training.errors import DataError
from training.sampling import pk_batches

# Identity i has SIZES[i] images; each image's pixels hold its example index.
SIZES = (5, 4, 3, 1, 6, 4, 2)


def examples():
    labels = np.repeat(np.arange(len(SIZES)), SIZES)
    np.random.default_rng(0).shuffle(labels)
    images = np.broadcast_to(np.arange(len(labels), dtype="float32")[:, None, None, None],
                             (len(labels), 2, 2, 1))
    return tf.data.Dataset.from_tensor_slices((images, labels)), labels


def take(dataset, n):
    return [(images.numpy(), labels.numpy()) for images, labels in dataset.take(n)]


def test_batches_hold_p_distinct_identities_with_k_distinct_images_each():
    source, labels = examples()
    seen = collections.Counter()
    for images, batch_labels in take(pk_batches(source, 3, 3, seed=1), 300):
        index = images[:, 0, 0, 0].astype(int)
        assert (labels[index] == batch_labels).all()  # each image keeps its own label
        groups = batch_labels.reshape(3, 3)
        assert (groups == groups[:, :1]).all() and len(set(groups[:, 0])) == 3
        assert all(len(set(row)) == 3 for row in index.reshape(3, 3))  # no image twice
        seen.update(index)
    eligible = {i for i, size in enumerate(SIZES) if size >= 3}
    assert {labels[i] for i in seen} == eligible  # identities under K images never come
    # Every image of an eligible identity is drawn, about equally often within it.
    for identity in eligible:
        counts = [seen[i] for i in np.flatnonzero(labels == identity)]
        assert len(counts) == SIZES[identity] and min(counts) > 0.6 * max(counts)


def test_the_seed_repeats_the_batches():
    source, _ = examples()
    first, again = take(pk_batches(source, 2, 2, seed=7), 5), take(pk_batches(source, 2, 2, seed=7), 5)
    other = take(pk_batches(source, 2, 2, seed=8), 5)
    assert all((a[1] == b[1]).all() and (a[0] == b[0]).all() for a, b in zip(first, again))
    assert any((a[0] != b[0]).any() for a, b in zip(first, other))


def test_a_batch_always_has_triplets_to_mine():
    source, _ = examples()
    images, labels = next(iter(pk_batches(source, 4, 2, seed=0)))
    embeddings = tf.reshape(images, (8, -1)) + tf.random.stateless_normal((8, 4), (0, 0))
    assert float(zoo.losses.TripletLoss(margin=10.0, mining="hard")(labels, embeddings)) > 0


@pytest.mark.parametrize("p, k, message", [
    (6, 3, r"need 6 identities with at least 3 images; 5 of the 7 have that many"),
    (1, 2, r"identities \(P\) must be an int >= 2; got 1"),
    (2, 1, r"per_identity \(K\) must be an int >= 2; got 1"),
])
def test_impossible_batches_get_one_clear_error(p, k, message):
    with pytest.raises(DataError, match=message):
        pk_batches(examples()[0], p, k)


def test_batched_or_unlabelled_examples_are_refused():
    source, _ = examples()
    with pytest.raises(DataError, match=r"unbatched \(image, label\) examples"):
        pk_batches(source.batch(4), 2, 2)
    with pytest.raises(DataError, match=r"unbatched \(image, label\) examples"):
        pk_batches(source.map(lambda image, label: image), 2, 2)
