"""What a run records beside its checkpoints: flagfile, versions, plot, evaluation."""

import csv
import os

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from zoo.utils import atomic_path, versions, write_json, write_text


def write_flagfile(path, lines):
    """The resolved run as an absl flagfile: repeat it with --flagfile=path."""
    write_text(path, "\n".join(lines) + "\n")


def write_versions(path, **extra):
    """Python, platform and library versions, plus `extra` facts about the run."""
    write_json(path, {**versions(), **extra})


class EpochCSV(keras.callbacks.Callback):
    """training.csv: one row per completed epoch, numbered from 1 as everywhere else.

    A resumed run first drops the rows past its checkpoint's epoch (`kept`):
    a kill between the row and the checkpoint would otherwise repeat the
    epoch in the file.
    """

    def __init__(self, path, kept=0):
        super().__init__()
        self.path, self.kept = path, kept

    def on_train_begin(self, logs=None):
        rows = _read_rows(self.path)
        if rows and any(int(row["epoch"]) > self.kept for row in rows):
            _write_rows(self.path, [row for row in rows if int(row["epoch"]) <= self.kept])

    def on_epoch_end(self, epoch, logs=None):
        self.kept = epoch + 1
        rows = _read_rows(self.path)
        rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
        _write_rows(self.path, rows)


def _read_rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(path, rows):
    """All rows, atomically (a small file: rewritten whole each epoch)."""
    columns = list(dict.fromkeys(["epoch", *(k for row in rows for k in row)]))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def read_history(csv_path):
    """CSV log rows as (epochs, {column: [float per epoch]}), epochs numbered from 1."""
    rows = {int(row["epoch"]): row for row in _read_rows(csv_path)}
    epochs = sorted(rows)
    columns = [c for c in (rows[epochs[0]] if epochs else {}) if c != "epoch"]
    history = {c: [float(rows[e][c]) for e in epochs] for c in columns}
    return epochs, history


def plot_history(csv_path, png_path, extra_panels=()):
    """One panel per metric (loss, accuracy, ...), training and validation per epoch (a
    metric measured on validation only gets its panel too), then one panel per
    function of `extra_panels`, each drawing on the matplotlib axes it is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs, history = read_history(csv_path)
    names = [c for c in history if not c.startswith("val_") and c != "learning_rate"]
    names += [c[len("val_"):] for c in history if c.startswith("val_") and c[len("val_"):] not in history]
    panels = max(len(names) + len(extra_panels), 1)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        if name in history:
            ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    for ax, draw in zip(axes[0][len(names):], extra_panels):
        draw(ax)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


def tensorboard_callback(log_dir):
    """keras.callbacks.TensorBoard, or, without the tensorboard package, EpochScalars.

    tf.summary.scalar lives in the tensorboard package; the fallback writes the
    same scalar events with TensorFlow's own tf.summary.write.
    """
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return EpochScalars(log_dir)
    return keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0)


class EpochScalars(keras.callbacks.Callback):
    """Per-epoch scalars in log_dir/train and log_dir/validation, as TensorBoard lays them out."""

    METADATA = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
        plugin_name="scalars")).SerializeToString()

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self.writers = {}

    def _writer(self, kind):
        if kind not in self.writers:
            self.writers[kind] = tf.summary.create_file_writer(os.path.join(self.log_dir, kind))
        return self.writers[kind]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            kind, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(kind).as_default():
                tf.summary.write(f"epoch_{name}", tf.constant(float(value)), step=epoch,
                                 metadata=self.METADATA)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
