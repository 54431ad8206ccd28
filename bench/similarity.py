"""Similarity learning on digits against raw pixels: `python -m bench.similarity [--quick]`.

The harness's default recipe for `--model=embedding` at 32 px (a ResNet-18
backbone, 128-wide embeddings, semi-hard triplet loss on 8 identities x 4
images, 20 epochs), measured on held-out images of digits' ten identities:
verification ROC AUC, EER, TAR at FAR 1e-3 and 10-way one-shot top-1, each
beside the same number for raw pixels (squared L2 between pixel vectors), the
baseline. Ratio = embedding / pixels. A second run trains on digits 0-6 only
and reports the same numbers on every image of 7, 8 and 9, identities it never
saw (information: the issue sets no bar for it).

Not in `python -m bench` (which tests/test_bench.py runs on every change): the
two runs train for about ten minutes on 2 cores. Results go to
bench/results_similarity.json (--quick: bench/results_similarity-quick.json,
so quick figures never overwrite the README's), and a picture of the held-out
ROC curves and pair distances beside it (`<results>_roc.png`).
"""

import functools
import os
import tempfile

import numpy as np

from bench.tables import format_table
from training.config import RunConfig
from training.train import train
from zoo.utils import versions, write_json

HERE = os.path.dirname(__file__)
IMAGE_SIZE = 32
UNSEEN = (7, 8, 9)  # the second run trains on the other seven digits
# --quick: a small backbone for one epoch, enough to run every step in seconds.
QUICK_SETTINGS = dict(model_args=("backbone=lenet5", "embedding_dim=16"), epochs=1)
NUMBERS = ("roc_auc", "eer", "tar_at_far_0.001", "one_shot_top1")


def default_output(quick):
    return os.path.join(HERE, "results_similarity-quick.json" if quick else "results_similarity.json")


def _train(folder, quick, **settings):
    config = RunConfig(model="embedding", dataset="digits", image_size=IMAGE_SIZE, export=(),
                       model_dir=folder, **(QUICK_SETTINGS if quick else {}), **settings)
    return config, train(config)


def _row(name, config, seconds, report):
    """One table row: the embedding's numbers, the pixels' and their ratios."""
    row = {"test": name, "model": f"embedding {' '.join(config.model_args) or 'resnet18 128'}",
           "epochs": config.epochs, "train_s": seconds}
    for key in NUMBERS:
        row[key] = report[key]
        row[f"pixels_{key}"] = report["raw_pixels"][key]
    row["one_shot_way"] = report["one_shot_way"]
    row["ratio_roc_auc"] = report["roc_auc"] / report["raw_pixels"]["roc_auc"]
    row["ratio_one_shot_top1"] = report["one_shot_top1"] / report["raw_pixels"]["one_shot_top1"]
    return row


def held_out(quick, folder):
    """(row, run folder): all ten identities, held-out images."""
    config, result = _train(folder, quick)
    return _row("digits, held-out images", config, result["seconds"], result["eval"]), folder


def unseen(quick, folder):
    """A row for identities never trained on; their numbers against the pixels of the same images."""
    seen = tuple(str(d) for d in range(10) if d not in UNSEEN)
    config, result = _train(folder, quick, classes=seen)
    report = result["eval"]["unseen_identities"]
    # The run's raw_pixels are its test split's; the unseen images' pixels are measured here.
    report = {**report, "raw_pixels": _pixel_report(UNSEEN)}
    return _row(f"digits {','.join(map(str, UNSEEN))}, never trained on", config,
                result["seconds"], report)


@functools.cache  # both runs and the picture read the same splits
def _split(split):
    """(images, labels) of one digits split, 0-255 at 32x32x3."""
    from training import data

    return data.arrays("digits", image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), split=split,
                       value_range=(0.0, 255.0), task="similarity")[:2]


def _digits(splits, identities=range(10)):
    """(images 0-255 [N, 32, 32, 3], labels) of digits as the harness prepares them: the
    images of `identities` in `splits`."""

    images, labels = (np.concatenate(p) for p in zip(*map(_split, splits)))
    keep = np.isin(labels, list(identities))
    return images[keep], labels[keep]


def _pixel_report(identities):
    """The raw-pixel numbers on every image of `identities`, with the threshold
    calibrated on the validation pixels of the others (as the run calibrates its own)."""
    from training import data, verification

    flat = lambda x: x.reshape(len(x), -1) / 255.0  # noqa: E731  (the harness's [0, 1] pixels)
    images, labels = _digits(data.SPLITS, identities)
    seen = [d for d in range(10) if d not in identities]
    calibration_images, calibration_labels = _digits(["validation"], seen)
    return verification.report((flat(calibration_images), calibration_labels), (flat(images), labels))


def picture(run_folder, path):
    """The held-out ROC curves (embedding and pixels) and the embedding's pair distances."""
    import json

    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training import verification
    from training.tasks.similarity import THRESHOLD_FILE, plot_distances, plot_roc
    from zoo.utils import atomic_path

    images, labels = _digits(["test"])
    model = keras.saving.load_model(os.path.join(run_folder, "best.keras"), safe_mode=True)
    embeddings = model.predict(images, batch_size=128, verbose=0)
    with open(os.path.join(run_folder, THRESHOLD_FILE)) as f:
        threshold = json.load(f)["threshold"]
    test_pairs = verification.pairs(embeddings, labels)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.2))
    plot_roc(left, {"embedding": test_pairs,
                    "raw pixels": verification.pairs(images.reshape(len(images), -1) / 255.0, labels)})
    plot_distances(right, *test_pairs, threshold)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


def run(quick, output, runs=None):
    """Both runs (kept in folder `runs`, else deleted); writes `output` (the JSON) and
    its picture; returns the rows."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with tempfile.TemporaryDirectory() as temporary:
        folder = runs or temporary
        row, run_folder = held_out(quick, os.path.join(folder, "held_out"))
        print(format_table([row]), flush=True)
        picture(run_folder, os.path.splitext(output)[0] + "_roc.png")
        rows = [row, unseen(quick, os.path.join(folder, "unseen"))]
        print(format_table(rows[-1:]), flush=True)
    write_json(output, {"quick": quick, "versions": versions(), "image_size": IMAGE_SIZE,
                        "rows": rows})
    return rows


if __name__ == "__main__":
    from absl import app, flags

    QUICK = flags.DEFINE_bool("quick", False, "One epoch of a small backbone: seconds, not the numbers.")
    OUTPUT = flags.DEFINE_string("output", None, "Where to write the results JSON (default: "
                                 "bench/results_similarity.json; --quick: "
                                 "bench/results_similarity-quick.json).")
    RUNS = flags.DEFINE_string("runs", None, "A folder to keep the two runs in (held_out/, "
                               "unseen/; e.g. to try zoo-verify on them); default: deleted.")

    def main(argv):
        del argv
        run(QUICK.value, OUTPUT.value or default_output(QUICK.value), RUNS.value)

    app.run(main)
