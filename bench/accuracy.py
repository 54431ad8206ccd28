"""Time to accuracy: the default harness run (lenet5_relu on digits) to 98% and 99%
test accuracy, next to scikit-learn's SVC on the same split.

The harness runs in a subprocess (`python -m bench.accuracy` plus harness
flags), with a callback that measures test accuracy after every epoch and
keeps its own evaluation time out of the clock. Ratio = the harness's final
test accuracy / SVC's.
"""

import json
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = (0.98, 0.99)


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


def _harness(epochs):
    with tempfile.TemporaryDirectory() as run_dir:
        args = [sys.executable, "-m", "bench.accuracy", f"--epochs={epochs}", "--export=",
                f"--model_dir={run_dir}/run"]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(quick):
    epochs = 5 if quick else 20
    history = _harness(epochs)
    svc_accuracy, svc_seconds = _svc()
    row = {"model": "lenet5_relu (harness default)", "epochs": epochs,
           "final_accuracy": history[-1]["accuracy"], "train_s": history[-1]["seconds"]}
    for target in TARGETS:
        reached = next((h for h in history if h["accuracy"] >= target), None)
        key = f"{round(100 * target)}"
        row[f"epochs_to_{key}"] = reached["epoch"] if reached else "not reached"
        row[f"seconds_to_{key}"] = reached["seconds"] if reached else "not reached"
    row.update(svc_accuracy=svc_accuracy, svc_fit_s=svc_seconds,
               ratio=history[-1]["accuracy"] / svc_accuracy, history=history)
    return [row]


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

            shape = zoo.get_entry(train.FLAGS.model).input_shape
            test = data_lib.load(train.FLAGS.dataset, image_shape=shape).splits["test"]
            self.images = data_lib.sample_images(test, limit=100_000)
            self.labels = np.stack([y for _, y in test.as_numpy_iterator()])
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
