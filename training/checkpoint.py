"""Per-epoch persistence: best and last `.keras`, and a resumable checkpoint.

Every file is written under a temporary name and renamed into place
(`os.replace` is atomic), so a kill -9 at any moment leaves either the old
or the new file, never half of one. `state.json`, renamed last, names the
checkpoint that resuming loads: the last completed epoch.
"""

import json
import os

import keras
from absl import logging

import zoo
from zoo.utils import atomic_path, write_json  # noqa: F401  (write_json: the run's JSON files)

STATE = "state.json"


def atomic_save(model, path):
    """model.save(path), atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def atomic_save_weights(model, path):
    with atomic_path(path) as tmp:
        model.save_weights(tmp)


def read_state(model_dir):
    """The saved run state ({"epoch", "checkpoint", "best", ...}) or None."""
    path = os.path.join(model_dir, "checkpoints", STATE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def restore(model, model_dir, state):
    """Loads weights and optimizer state (model.optimizer, built) of the checkpoint."""
    path = os.path.join(model_dir, "checkpoints", state["checkpoint"])
    model.load_weights(path)
    logging.info("Resumed from %s (epoch %d completed).", path, state["epoch"])


class RunState(keras.callbacks.Callback):
    """After each epoch: best.keras if `monitor` improved, last.keras, then the checkpoint.

    `monitor` improves when it rises (falls when not `higher_is_better`), or stays equal while the validation loss
    falls: accuracy on a small validation split saturates (digits: 0.993 for
    many epochs), and the first of equal epochs is usually the least trained.
    The checkpoint holds model and optimizer (`model.optimizer`) weights; the
    state file records the epoch, the best value, its loss and epoch, for `--resume`.
    """

    def __init__(self, model_dir, monitor, state=None, higher_is_better=True):
        super().__init__()
        self.model_dir = model_dir
        self.monitor = monitor
        # Comparing sign * value keeps one rule for a loss (lower is better) too.
        self.sign = 1.0 if higher_is_better else -1.0
        self.checkpoints = os.path.join(model_dir, "checkpoints")
        state = state or {}
        self.best = state.get("best", -self.sign * float("inf"))
        self.best_loss = state.get("best_loss", float("-inf"))  # older states: no tie-break
        self.best_epoch = state.get("best_epoch")
        os.makedirs(self.checkpoints, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        inference = zoo.inference_model(self.model)
        value = logs.get(self.monitor, -self.sign * float("inf"))
        loss = logs.get("val_loss", float("inf"))
        if self.sign * value > self.sign * self.best or (value == self.best and loss < self.best_loss) \
                or self.best_epoch is None:
            self.best, self.best_loss, self.best_epoch = value, loss, epoch + 1
            atomic_save(inference, os.path.join(self.model_dir, "best.keras"))
        atomic_save(inference, os.path.join(self.model_dir, "last.keras"))
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        atomic_save_weights(self.model, os.path.join(self.checkpoints, name))
        write_json(os.path.join(self.checkpoints, STATE), {
            "epoch": epoch + 1, "checkpoint": name, "best": self.best,
            "best_loss": self.best_loss, "best_epoch": self.best_epoch, "monitor": self.monitor,
            "logs": logs})
        for old in os.listdir(self.checkpoints):
            if old.startswith("epoch-") and old != name:
                os.remove(os.path.join(self.checkpoints, old))
