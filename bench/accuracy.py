"""Time to accuracy: the README's main job (the harness's defaults: lenet5_relu on
digits, with its export), next to scikit-learn's SVC on the same split.

The harness runs in a subprocess (`python -m bench.accuracy` plus harness
flags), with a callback that measures test accuracy after every epoch and
keeps its own evaluation time out of the training clock. `end_to_end_s` is the
subprocess's wall time: Python and TensorFlow start-up, data, training, the
SavedModel and TFLite export and its parity check, as `zoo-train` takes it
(plus the callback's evaluations). Full runs use seeds 0-2 and report each
seed's figures and the worst; ratio = the worst final test accuracy / SVC's.
"""

import json
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = (0.98, 0.99)
SEEDS = (0, 1, 2)


def _svc():
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    from training.data import _split_indices

    digits = load_digits()
    parts = _split_indices(digits.target)
    features = digits.data / 16.0
    start = time.perf_counter()
    svc = SVC(gamma="scale").fit(features[parts["train"]], digits.target[parts["train"]])
    seconds = time.perf_counter() - start
    return float(svc.score(features[parts["test"]], digits.target[parts["test"]])), seconds


def _harness(seed, quick):
    """(per-epoch test accuracy history, end-to-end seconds) of one default run."""
    with tempfile.TemporaryDirectory() as run_dir:
        args = [sys.executable, "-m", "bench.accuracy", f"--seed={seed}",
                f"--model_dir={run_dir}/run", *(["--epochs=3", "--export="] if quick else [])]
        start = time.perf_counter()
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        seconds = time.perf_counter() - start
    return json.loads(out.strip().splitlines()[-1]), seconds


def _reached(history, target):
    """(epoch, training seconds) of the first epoch at `target` test accuracy, or None."""
    return next(((h["epoch"], h["seconds"]) for h in history if h["accuracy"] >= target), None)


def run(quick):
    svc_accuracy, svc_seconds = _svc()
    rows = []
    for seed in SEEDS[:1] if quick else SEEDS:
        history, end_to_end = _harness(seed, quick)
        row = {"model": "lenet5_relu (harness default)", "seed": seed, "epochs": len(history),
               "final_accuracy": history[-1]["accuracy"], "train_s": history[-1]["seconds"],
               "end_to_end_s": end_to_end}
        for name, target in (*((f"{round(100 * t)}", t) for t in TARGETS), ("svc", svc_accuracy)):
            reached = _reached(history, target)
            row[f"epochs_to_{name}"] = reached[0] if reached else "not reached"
            row[f"seconds_to_{name}"] = reached[1] if reached else "not reached"
        row.update(svc_accuracy=svc_accuracy, svc_fit_s=svc_seconds,
                   ratio=history[-1]["accuracy"] / svc_accuracy, history=history)
        rows.append(row)
    worst = min(rows, key=lambda row: row["final_accuracy"])
    rows.append({**{k: v for k, v in worst.items() if k != "history"}, "seed": "worst",
                 "end_to_end_s": max(row["end_to_end_s"] for row in rows)})
    return rows


def _child(argv):
    """Runs the harness with these flags; prints per-epoch test accuracy as JSON."""
    import keras
    from absl import app

    from training import data as data_lib
    from training import train
    from training.config import RunConfig

    class TestAccuracy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            import zoo
            from training import tasks

            entry = zoo.get_entry(train.FLAGS.model)
            dataset = train.FLAGS.dataset or tasks.get_task(entry.task).default_dataset
            # The images in the model's own input range (zoo models take 0-255 pixels).
            self.images, self.labels, _ = data_lib.arrays(
                dataset, image_shape=entry.input_shape, split="test",
                value_range=entry.input_range, limit=100_000)
            self.history, self.spent, self.start = [], 0.0, time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.start - self.spent
            begin = time.perf_counter()
            logits = self.model.predict(self.images, verbose=0, batch_size=256)
            accuracy = float(np.mean(np.argmax(logits[0] if isinstance(logits, list) else logits,
                                               -1) == self.labels))
            self.history.append({"epoch": epoch + 1, "accuracy": accuracy, "seconds": seconds})
            self.spent += time.perf_counter() - begin

    def main(args):
        callback = TestAccuracy()
        train.train(RunConfig.from_flags(train.FLAGS), callbacks=[callback])
        print(json.dumps(callback.history))

    app.run(main, argv=argv)


if __name__ == "__main__":
    _child(sys.argv)
