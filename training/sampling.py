"""P x K batches for triplet mining (Hermans et al., 2017; FaceNet's "online"
triplets): each batch holds P distinct identities with K images each, so
every anchor has K - 1 positives and (P - 1) K negatives in its batch.

`pk_batches` reads a split of unbatched (image, label) examples into memory
once (the harness's splits are already cached there, resized) and returns an
endless tf.data.Dataset of (images [P*K, ...], labels [P*K]) batches, drawn
with stateless random ops from `seed`: the same seed gives the same batches.
Identities with fewer than K images are never drawn (K draws without
replacement need K images).
"""

import numpy as np
import tensorflow as tf

from training.errors import DataError


def _positive_int(value, name, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise DataError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def _read(examples):
    """All (image, label) pairs of `examples` as two numpy arrays."""
    spec = examples.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2 and spec[1].shape.as_list() in ([], [1])):
        raise DataError(f"P x K batches need unbatched (image, label) examples with one integer "
                        f"label each; got elements {spec}.")
    images, labels = [], []
    for image_batch, label_batch in examples.batch(1024).as_numpy_iterator():
        images.append(image_batch)
        labels.append(np.reshape(label_batch, (len(label_batch),)))
    if not labels:
        raise DataError("P x K batches need examples; the dataset is empty.")
    return np.concatenate(images), np.concatenate(labels)


def pk_batches(examples, identities, per_identity, *, seed=None):
    """Endless batches of `identities` (P) distinct identities x `per_identity` (K)
    images each from `examples`, grouped by identity (K rows of one, then the next).

    Raises DataError when fewer than P identities have K images or more."""
    p = _positive_int(identities, "identities (P)", 2)  # negatives need a second identity
    k = _positive_int(per_identity, "per_identity (K)", 2)  # positives need a second image
    images, labels = _read(examples)
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= k]
    if len(eligible) < p:
        raise DataError(f"P x K batches of {p} identities x {k} images need {p} identities with "
                        f"at least {k} images; {len(eligible)} of the {len(classes)} have that many. "
                        "Lower identities or per_identity, or add images.")
    # Row c: the example indices of eligible identity c, padded with -1 to the longest.
    rows = [np.flatnonzero(labels == c) for c in eligible]
    table = np.full((len(rows), max(map(len, rows))), -1, np.int64)
    for row, indices in zip(table, rows):
        row[:len(indices)] = indices
    table, sizes = tf.constant(table), tf.constant([len(r) for r in rows], tf.int64)
    images, labels = tf.constant(images), tf.constant(labels)
    seed = int(np.random.SeedSequence().generate_state(1)[0] if seed is None else seed)

    def draw(step):
        chosen_seed, image_seed = tf.unstack(tf.random.experimental.stateless_split([seed, step], 2))
        chosen = tf.argsort(tf.random.stateless_uniform([len(rows)], chosen_seed))[:p]
        # K distinct images per identity: the K smallest of random keys, padding keyed out of reach.
        keys = tf.random.stateless_uniform([p, table.shape[1]], image_seed)
        keys = tf.where(tf.range(table.shape[1], dtype=tf.int64)[None, :] < tf.gather(sizes, chosen)[:, None],
                        keys, 2.0)
        picked = tf.gather(tf.gather(table, chosen), tf.argsort(keys, axis=1)[:, :k], batch_dims=1)
        picked = tf.reshape(picked, [-1])
        return tf.gather(images, picked), tf.gather(labels, picked)

    return tf.data.Dataset.counter().map(draw, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def balanced_pairs(images, labels, seed):
    """((images, partners), same) from one batch of `images` [B, ...] and identity
    `labels` [B] (a P x K batch: every identity twice or more, two identities or more),
    for the binary (Siamese) variant: image i is paired with a random other image of
    its identity when i is even, with a random image of another identity when i is
    odd, so a batch of an even size holds as many same as different pairs. `same`
    [B] float32 (1.0 = same identity) is read from the labels, so it is right even
    where a batch offers no partner of the wanted kind. `seed`: a stateless seed
    (shape [2]), one per batch."""
    labels = tf.reshape(labels, [-1])
    n = tf.shape(labels)[0]
    equal = tf.equal(labels[:, None], labels[None, :])
    want_same = tf.equal(tf.range(n) % 2, 0)[:, None]
    candidates = tf.where(want_same, equal & ~tf.eye(n, dtype=tf.bool), ~equal)
    keys = tf.random.stateless_uniform([n, n], seed)  # a uniform draw among the candidates
    partners = tf.argmax(tf.where(candidates, keys, -1.0), axis=1, output_type=tf.int32)
    same = tf.cast(tf.equal(labels, tf.gather(labels, partners)), tf.float32)
    return (images, tf.gather(images, partners)), same


def held_out_pairs(labels, *, seed=0):
    """(first, second, same) index arrays of fixed pairs over a split of identity
    `labels` [N]: each image once with a random other image of its identity (when
    it has one) and once with a random image of another identity, drawn from `seed`;
    `same` bool."""
    labels = np.reshape(labels, (-1,))
    rng = np.random.default_rng(seed)
    same_pairs, different_pairs = [], []
    for identity in np.unique(labels):
        members, others = np.flatnonzero(labels == identity), np.flatnonzero(labels != identity)
        if len(members) >= 2:  # a random shift of 1 .. n - 1 within the identity: never itself
            shift = 1 + rng.integers(0, len(members) - 1, size=len(members))
            same_pairs.append((members, members[(np.arange(len(members)) + shift) % len(members)]))
        if len(others):
            different_pairs.append((members, others[rng.integers(0, len(others), size=len(members))]))
    first, second = (np.concatenate([p[i] for p in same_pairs + different_pairs]) for i in (0, 1))
    return first, second, labels[first] == labels[second]
