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
