"""Pair similarity: the binary (Siamese) variant of similarity learning. A model of
two inputs (zoo's `siamese`) gives one logit per image pair, higher for "same
identity", trained with binary cross-entropy from logits on same/different pairs.

Data and identities are the similarity task's (training/tasks/similarity.py):
training batches hold P identities x K images and each becomes as many pairs,
half same and half different (`sampling.balanced_pairs`, seeded per batch);
a held-out split becomes fixed pairs, each image once with a same and once
with a different partner (`sampling.held_out_pairs`). The validation pairs'
ROC AUC picks the best epoch. eval.json holds the verification numbers of
training/verification.py on the test pairs with the negated logit as the
distance: ROC AUC, EER, TAR at FAR 1e-2 and 1e-3, and the threshold for
`target_far` calibrated on the validation pairs, in LOGITS: same identity
when logit >= threshold (also in verification.json beside best.keras).
"raw_pixels" holds the numbers of the same pairs scored by their squared
pixel distance; with --classes, "unseen_identities" those of pairs of the
identities left out. One-shot identification needs a gallery search, which
the embedding model (--model=embedding, zoo-verify) is for: not measured here.
training.png gains the test ROC of the logits and of the pixels.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from training import sampling, verification
from training.tasks.similarity import Similarity, plot_roc
from zoo.utils import write_json
from zoo.verify import THRESHOLD_FILE

LOGIT = "logit"  # the unit of the saved threshold


class PairSimilarity(Similarity):
    name = "pair_similarity"
    output_kind = "pair_logits"  # one same/different logit per image pair
    model_inputs = 2
    export_refusal = ("a model of two inputs; export the shared network instead "
                      "(--model=embedding with the same backbone)")
    pairs_seed = 0  # of the held-out pairs: every epoch and run scores the same ones

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        same = tf.reshape(tf.cast(targets, tf.float32), [-1, 1])
        return keras.losses.binary_crossentropy(same, tf.cast(outputs, tf.float32),
                                                from_logits=True, label_smoothing=label_smoothing)

    def metrics(self, num_classes):
        return [keras.metrics.BinaryAccuracy(threshold=0.0, name="pair_accuracy")]  # logit 0: p = 1/2

    def split_metrics(self, targets, outputs):
        distances, same = _distances(targets, outputs)
        return {"roc_auc": verification.roc_auc(distances, same),
                "eer": verification.equal_error_rate(distances, same)}

    def evaluate_run(self, trainer, datasets, run_dir):
        results, same, logits = trainer.predict(datasets["test"])
        _, calibration_same, calibration_logits = trainer.predict(datasets["validation"])
        calibration = _distances(calibration_same, calibration_logits)
        report = _in_logits(verification.pair_report(calibration, _distances(same, logits),
                                                     target_far=self.target_far))
        pixels = _pixel_distances(datasets["test"])
        baseline = verification.pair_report(_pixel_distances(datasets["validation"]), pixels,
                                            target_far=self.target_far)
        write_json(os.path.join(run_dir, THRESHOLD_FILE), {
            "distance": LOGIT, "threshold": report["threshold"], "target_far": self.target_far,
            "calibration_far": report["threshold_calibration_far"],
            "calibration": "validation pairs", "rule": "same identity when logit >= threshold"})
        csv_path = os.path.join(run_dir, "training.csv")
        if os.path.exists(csv_path):  # training.png gains the test ROC beside the pixels'
            from training import outputs

            outputs.plot_history(csv_path, os.path.join(run_dir, "training.png"), extra_panels=(
                lambda ax: plot_roc(ax, {"pair logits": _distances(same, logits),
                                         "raw pixels": pixels}),))
        report = {"loss": results["loss"], "pair_accuracy": results["pair_accuracy"], **report,
                  "raw_pixels": baseline}
        if "unseen" in datasets:
            _, unseen_same, unseen_logits = trainer.predict(datasets["unseen"])
            report["unseen_identities"] = _in_logits(verification.pair_report(
                calibration, _distances(unseen_same, unseen_logits), target_far=self.target_far))
        return report

    def train_batches(self, examples, *, batch_size, seed, num_classes, **finish):
        batches = super().train_batches(examples, batch_size=batch_size, seed=seed,
                                        num_classes=num_classes, **finish)
        return batches.enumerate().map(
            lambda step, batch: _with_column(sampling.balanced_pairs(
                *batch, tf.stack([tf.constant(seed, tf.int64), step]))),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)

    def eval_batches(self, examples, *, batch_size, **finish):
        # Finished (model-ready) images of the whole split, then its fixed pairs.
        images, labels = (np.concatenate(parts) for parts in zip(*(
            (keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y))
            for x, y in super().eval_batches(examples, batch_size=batch_size, **finish))))
        first, second, same = sampling.held_out_pairs(labels, seed=self.pairs_seed)
        pairs = tf.data.Dataset.from_tensor_slices(
            ((images[first], images[second]), same.astype("float32")[:, None]))
        return pairs.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _with_column(pair_batch):
    """((a, b), same [B]) with `same` as a column [B, 1], as the logits [B, 1] are."""
    images, same = pair_batch
    return images, same[:, None]


def _distances(same, logits):
    """(distances, same) of scored pairs for training/verification.py: the negated logit,
    so that a smaller value says "same" as a distance does."""
    return -np.reshape(logits, (-1,)).astype(np.float64), np.reshape(same, (-1,)) > 0.5


def _in_logits(report):
    """A pair report of negated logits with its threshold back in logits (>= accepts)."""
    return {**report, "threshold": -report["threshold"], "threshold_unit": LOGIT}


def _pixel_distances(pairs):
    """(squared pixel distances, same) of a batched ((a, b), same) pair dataset: the baseline."""
    distances, same = [], []
    for (first, second), flags in pairs.as_numpy_iterator():
        distances.append(np.sum((first.astype(np.float64) - second) ** 2,
                                axis=tuple(range(1, first.ndim))))
        same.append(np.reshape(flags, (-1,)) > 0.5)
    return np.concatenate(distances), np.concatenate(same)


TASK = PairSimilarity()
