"""Tasks: what a model is trained to do, one plug-in module each.

A task owns everything that differs between, say, classification and
segmentation: which datasets it reads and how their targets become a batch's
targets, the loss, the metrics and the monitored value, what eval.json adds,
and what export's metadata calls its output. The loop, checkpoints, outputs and
export call these hooks and know no task names.

Adding a task: subclass `Task` in a new module here and add it to `_MODULES`;
a registry entry then names it with `task="<name>"`.
"""

import importlib

from training.errors import HarnessError

# task name -> module under training/tasks/ defining TASK (imported on first use)
_MODULES = {"classification": "classification", "segmentation": "segmentation"}
_EXTRA = {}  # tasks registered at run time (`register`), e.g. by tests


class UnknownTask(HarnessError, ValueError):
    """A task name no module defines."""


class Task:
    """The hooks a task defines. Subclasses set the attributes and override the methods.

    Targets and outputs are batches: outputs are the model's raw outputs
    (logits for the two tasks today), targets what `targets` made.
    """

    name = None
    # The validation metric that picks the best epoch; higher is better.
    monitor = None
    # What export's metadata calls the main output ("logits", "per_pixel_logits").
    output_kind = None

    def targets(self, labels, num_classes):
        """A batch's targets from a batch of dataset labels (inside tf.data)."""
        raise NotImplementedError

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        """One loss per example, shape (batch,), float32."""
        raise NotImplementedError

    def metrics(self, num_classes):
        """New keras metrics, updated with (targets, main output as float32)."""
        raise NotImplementedError

    def report(self, results):
        """eval.json's task part from the test split's metrics (the loop's results dict)."""
        return dict(results)

    # --- data ---------------------------------------------------------------------

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        """(raw splits, class names) of dataset `name`: split -> unbatched (image, label)."""
        raise NotImplementedError

    def prepare_label(self, label, image_shape):
        """One example's label fitted to the model's input (after the image is resized)."""
        return label

    def check_dataset(self, name, *, model):
        """An error sentence if dataset `name` cannot train `model` at this task (a flag
        check, before anything loads), else None."""
        return None

    def check_augment(self, names):
        """An error sentence if the --augment `names` do not fit this task, else None."""
        return None


def names():
    return tuple(sorted({*_MODULES, *_EXTRA}))


def register(task):
    """Adds a Task instance under `task.name` (plug-ins outside this package, tests)."""
    _EXTRA[task.name] = task
    return task


def unregister(name):
    _EXTRA.pop(name, None)


def get_task(name):
    """The Task for `name`; a Task passes through (callers may hold either)."""
    if isinstance(name, Task):
        return name
    if name in _EXTRA:
        return _EXTRA[name]
    if name not in _MODULES:
        raise UnknownTask(f"Unknown task {name!r}; the known tasks are {', '.join(names())}.")
    return importlib.import_module(f"training.tasks.{_MODULES[name]}").TASK


def all_tasks():
    return [get_task(n) for n in names()]
