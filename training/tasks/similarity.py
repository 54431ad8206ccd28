"""Similarity: an L2-normalised embedding per image (zoo's `embedding` model), trained
with the triplet loss on P x K batches; measured by verification and one-shot
identification on held-out images (training/verification.py).

Any labelled source works: its classes are the identities (digits' ten,
one sub-folder per person with folder:, a tfds label). Training batches hold
P identities x K images (training/sampling.py): K = `images_per_identity`,
P = --batch_size // K, at most the number of identities (K then grows to
fill the batch). The validation split's ROC AUC over all its pairs picks the
best epoch. eval.json holds, on the test split: ROC AUC, EER, TAR at FAR 1e-2
and 1e-3, K-way one-shot top-1, and the distance threshold for
`target_far` calibrated on the validation pairs (also written to
verification.json beside best.keras); "raw_pixels" holds the same numbers for
raw pixels, the baseline. With --classes, "unseen_identities" holds them for
all images of the identities left out (never trained on). The binary
(Siamese) variant, a model of two inputs trained on pairs: pair_similarity.py.
"""

import os

import keras
import numpy as np
import tensorflow as tf

import zoo.losses
from training import verification
from training.errors import DataError
from training.tasks import Task
from zoo.utils import write_json
from zoo.verify import DISTANCE, THRESHOLD_FILE  # what zoo-verify reads beside best.keras


class Similarity(Task):
    name = "similarity"
    monitor = "val_roc_auc"
    output_kind = "embeddings"
    class_outputs = False
    whole_split_metrics = True

    images_per_identity = 4  # K
    loss = zoo.losses.TripletLoss(margin=0.2, mining="semi_hard")
    target_far = 1e-3  # of the calibrated threshold
    one_shot_way = 10
    one_shot_draws = 1000

    def targets(self, labels, num_classes):
        return tf.cast(labels, tf.int32)  # identities; the loss mines its triplets from them

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        # The triplet loss belongs to the batch; each example carries it, so the loop's mean is it.
        loss = self.loss(targets, tf.cast(outputs, tf.float32))
        return tf.fill(tf.shape(targets)[:1], loss)

    def metrics(self, num_classes):
        return []  # pairs span batches: split_metrics measures them

    def split_metrics(self, targets, outputs):
        distances, same = verification.pairs(outputs, targets)
        return {"roc_auc": verification.roc_auc(distances, same),
                "eer": verification.equal_error_rate(distances, same)}

    def evaluate_run(self, trainer, datasets, run_dir):
        results, labels, embeddings = trainer.predict(datasets["test"])
        _, calibration_labels, calibration_embeddings = trainer.predict(datasets["validation"])
        settings = dict(target_far=self.target_far, way=self.one_shot_way,
                        draws=self.one_shot_draws)
        report = verification.report((calibration_embeddings, calibration_labels),
                                     (embeddings, labels), **settings)
        pixels = _pixels(datasets["test"])
        baseline = verification.report((_pixels(datasets["validation"]), calibration_labels),
                                       (pixels, labels), **settings)
        write_json(os.path.join(run_dir, THRESHOLD_FILE), {
            "distance": DISTANCE, "threshold": report["threshold"],
            "target_far": self.target_far, "calibration_far": report["threshold_calibration_far"],
            "calibration": "validation split", "rule": "same identity when distance <= threshold"})
        csv_path = os.path.join(run_dir, "training.csv")
        if os.path.exists(csv_path):  # training.png gains the ROC and the distance histograms
            from training import outputs

            test_pairs = verification.pairs(embeddings, labels)
            outputs.plot_history(csv_path, os.path.join(run_dir, "training.png"), extra_panels=(
                lambda ax: plot_roc(ax, {"embeddings": test_pairs,
                                          "raw pixels": verification.pairs(pixels, labels)}),
                lambda ax: plot_distances(ax, *test_pairs, report["threshold"])))
        report = {"loss": results["loss"], **report, "raw_pixels": baseline}
        if "unseen" in datasets:
            _, unseen_labels, unseen_embeddings = trainer.predict(datasets["unseen"])
            report["unseen_identities"] = {
                "identities": len(np.unique(unseen_labels)),
                **verification.report((calibration_embeddings, calibration_labels),
                                      (unseen_embeddings, unseen_labels), **settings)}
        return report

    def train_batches(self, examples, *, batch_size, seed, num_classes, **finish):
        from training import data, sampling

        identities = min(max(batch_size // self.images_per_identity, 2), num_classes)
        per_identity = max(batch_size // identities, 2)
        try:
            batches = sampling.pk_batches(examples, identities, per_identity, seed=seed)
        except DataError as error:
            raise DataError(f"--batch_size={batch_size} makes batches of {identities} identities "
                            f"x {per_identity} images: {error}") from None
        return data.finish_batches(batches, num_classes=num_classes, training=True, task=self,
                                   **finish)

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        from training import data

        raw, class_names = data.classification_source(name, data_dir, download)
        if classes:
            unseen = sorted(set(range(len(class_names))) - {int(c) for c in classes})
            kept = {s: data.keep_classes(d, classes, len(class_names)) for s, d in raw.items()}
            if len(unseen) >= 2:  # identities never trained on: every image of them, as information
                raw["unseen"] = _only(raw["train"].concatenate(raw["validation"])
                                      .concatenate(raw["test"]), unseen)
            raw.update(kept)
            class_names = tuple(class_names[int(c)] for c in classes)
        if len(class_names) < 2:
            raise DataError(f"--dataset={name!r} has {len(class_names)} identit(ies) after "
                            "--classes; similarity learning needs at least 2.")
        return raw, class_names

    def check_dataset(self, name, *, model):
        from training.data import SEGMENTATION_ONLY

        if name in SEGMENTATION_ONLY:
            return (f"--dataset={name} is for segmentation and detection models (e.g. unet, yolo); --model={model} "
                    "learns identities from class labels.")
        return None

    def check_data(self, name, data):
        # Verification scores pairs of one identity against pairs of two: a held-out split
        # without both would fail at the first validation, after an epoch of training.
        for split in ("validation", "test"):
            labels = np.array(list(data.cached[split].map(lambda x, y: y).as_numpy_iterator())).reshape(-1)
            counts = np.bincount(labels, minlength=data.num_classes)
            if counts.max(initial=0) < 2 or np.count_nonzero(counts) < 2:
                raise DataError(
                    f"--dataset={name!r}: the {split} split holds {len(labels)} image(s) of "
                    f"{np.count_nonzero(counts)} identit(ies), {int((counts >= 2).sum())} of them with "
                    "2 or more; verification needs pairs of the same identity and of two. Give the "
                    "identities more images (a folder: is split 80/10/10, so 15 per identity "
                    "puts 2 in each held-out split).")

    def check_augment(self, names):
        from training.augment import BATCH_AUGMENTATIONS

        mixing = [n for n in names if n in BATCH_AUGMENTATIONS]
        if mixing:
            return (f"--augment={','.join(mixing)} would blend two identities into one image; "
                    "similarity accepts the per-image augmentations.")
        return None


def _only(examples, identities):
    """The (image, label) examples whose label is one of `identities`, labels kept."""
    identities = tf.constant(identities, tf.int32)
    return examples.filter(lambda x, y: tf.reduce_any(tf.equal(tf.cast(y, tf.int32), identities)))


def _pixels(dataset):
    """Every image of a batched (images, targets) dataset, flattened: the baseline's features."""
    return np.concatenate([keras.ops.convert_to_numpy(images).reshape(len(images), -1)
                           for images, _ in dataset])


def plot_roc(ax, curves):
    """The test ROC of each {name: (distances, same)}, FAR on a log axis."""
    for name, (distances, same) in curves.items():
        far, tar, _ = verification.roc(distances, same)
        auc = verification.roc_auc(distances, same)
        ax.plot(np.maximum(far, 1e-5), tar, label=f"{name} (AUC {auc:.4f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_xlabel("false accept rate (test pairs)")
    ax.set_ylabel("true accept rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right")


def plot_distances(ax, distances, same, threshold):
    """Distances of same and different test pairs, and the calibrated threshold."""
    bins = np.linspace(0.0, distances.max(), 60)
    ax.hist(distances[same], bins=bins, density=True, alpha=0.6, label="same identity")
    ax.hist(distances[~same], bins=bins, density=True, alpha=0.6, label="different")
    ax.axvline(threshold, color="k", linestyle="--", label="calibrated threshold")
    ax.set_xlabel("squared L2 distance of the embeddings")
    ax.set_title("test pair distances")
    ax.legend()


TASK = Similarity()
