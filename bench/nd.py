"""1D and 3D networks against the baselines that show what they add:
`python -m bench.nd [--quick]`.

- 1D: ResNet-18 (harness, --dataset=trace) vs 1-NN with Euclidean distance,
  the UCR archive's reference classifier, fitted on Trace's whole official
  training split and scored on its official test split.
- 3D: ResNet-18 on moving_digits clips vs the same ResNet-18 in 2D on each
  clip's average frame (the same split, as an npz of images), and a logistic
  regression on those average frames.

Ratio = the network's test accuracy / the baseline's. Not in `python -m bench`
(which tests/test_bench.py runs on every change): the 3D run trains for many
minutes on 2 cores. Results go to bench/results_nd.json.
"""

import os
import tempfile

import numpy as np
from absl import app, flags

from bench.tables import format_table
from training import data
from training.config import RunConfig
from training.train import train
from zoo.utils import versions, write_json

QUICK = flags.DEFINE_bool("quick", False, "A few epochs and clips: minutes, not the numbers.")
OUTPUT = flags.DEFINE_string("output", None, "Where to write the results JSON (default: bench/results_nd.json; "
                             "--quick: bench/results_nd-quick.json, which git ignores).")


def _harness(folder, **settings):
    config = RunConfig(mixed_precision="float32", export=(), model_dir=os.path.join(folder, "run"),
                       **settings)
    result = train(config)
    return result["eval"]["accuracy"], result["seconds"]


def one_d(quick, folder):
    from sklearn.neighbors import KNeighborsClassifier

    x, y, n_train = data._trace_arrays()
    flat = x.reshape(len(x), -1)
    knn = KNeighborsClassifier(n_neighbors=1).fit(flat[:n_train], y[:n_train])
    knn_accuracy = float(knn.score(flat[n_train:], y[n_train:]))
    epochs = 5 if quick else 60
    accuracy, seconds = _harness(folder, model="resnet18", dataset="trace", epochs=epochs,
                                 batch_size=16, learning_rate=1e-3)
    return {"task": "UCR Trace (1D)", "model": "resnet18 1D", "epochs": epochs,
            "accuracy": accuracy, "train_s": seconds, "baseline": "1-NN Euclidean",
            "baseline_accuracy": knn_accuracy, "ratio": accuracy / knn_accuracy}


def three_d(quick, folder):
    from sklearn.linear_model import LogisticRegression

    clips = 200 if quick else data.MOVING_DIGITS["clips"]
    data.MOVING_DIGITS["clips"] = clips
    x, y = data.moving_digits(**data.MOVING_DIGITS)
    average = x.mean(axis=1).astype("float32")  # (N, 32, 32, 1)
    parts = data._split_indices(y)  # the split the moving_digits source makes
    flat = average.reshape(len(x), -1) / 255
    logistic = LogisticRegression(max_iter=2000).fit(flat[parts["train"]], y[parts["train"]])
    logistic_accuracy = float(logistic.score(flat[parts["test"]], y[parts["test"]]))
    epochs = 2 if quick else 15
    common = dict(model="resnet18", epochs=epochs, batch_size=16, learning_rate=1e-3)
    accuracy, seconds = _harness(os.path.join(folder, "3d"), dataset="moving_digits", **common)
    path = os.path.join(folder, "average_frames.npz")
    np.savez(path, x=average, y=y)
    flat_accuracy, flat_seconds = _harness(os.path.join(folder, "2d"), dataset=f"npz:{path}",
                                           image_size=32, **common)
    return {"task": f"moving_digits (3D, {clips} clips)", "model": "resnet18 3D",
            "epochs": epochs, "accuracy": accuracy, "train_s": seconds,
            "baseline": "resnet18 2D on the average frame", "baseline_accuracy": flat_accuracy,
            "baseline_train_s": flat_seconds, "logistic_on_average_accuracy": logistic_accuracy,
            "ratio": accuracy / max(flat_accuracy, 1e-9)}


def main(argv):
    del argv
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for bench in (one_d, three_d):
            rows.append(bench(QUICK.value, os.path.join(folder, bench.__name__)))
            print(format_table(rows[-1:]), flush=True)
    default = os.path.join(os.path.dirname(__file__), f"results_nd{'-quick' if QUICK.value else ''}.json")
    write_json(OUTPUT.value or default, {"quick": QUICK.value, "versions": versions(), "rows": rows})


if __name__ == "__main__":
    app.run(main)
