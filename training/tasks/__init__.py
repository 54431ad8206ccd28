"""Tasks: what a model is trained to do, one plug-in module each.

A task owns everything that differs between, say, classification and
segmentation: which datasets it reads and how their targets become a batch's
targets, the loss, the metrics and the monitored value, what eval.json adds,
and what export's metadata calls its output. The loop, checkpoints, outputs and
export call these hooks and know no task names.

Adding a task: subclass `Task` in a new module here (TASK = the instance, or TASKS
= {name: instance} for several) and add it to `_MODULES`;
a registry entry then names it with `task="<name>"`.
"""

import importlib

import tensorflow as tf

from training.errors import HarnessError

# task name -> module under training/tasks/ defining TASK (imported on first use)
# (a module defining several tasks holds them in TASKS, by name)
_MODULES = {"classification": "classification", "detection": "detection",
            "landmarks": "localization", "localization": "localization",
            "pair_similarity": "pair_similarity", "segmentation": "segmentation",
            "similarity": "similarity", "style": "style"}
_EXTRA = {}  # tasks registered at run time (`register`), e.g. by tests


class UnknownTask(HarnessError, ValueError):
    """A task name no module defines."""


class Task:
    """The hooks a task defines. Subclasses set the attributes and override the methods.

    Targets and outputs are batches: outputs are the model's raw outputs
    (logits for the two tasks today), targets what `targets` made.
    """

    name = None
    # The validation metric that picks the best epoch; higher is better unless
    # `monitor_higher_is_better` is False (a loss).
    monitor = None
    monitor_higher_is_better = True
    # The dataset a run trains on when --dataset is not given.
    default_dataset = "digits"
    # The learning rate a run uses when neither --learning_rate nor the model's registry
    # entry gives one; None: the harness's (training.config.LEARNING_RATE).
    learning_rate = None
    # The RunConfig fields of this task's own settings (style: --style_image, ...);
    # a run of another task refuses them.
    settings = ()
    # What export's metadata calls the main output ("logits", "per_pixel_logits").
    output_kind = None
    # True: the output has one channel per class, so the model is built with the
    # dataset's num_classes and export's metadata names them; False (an embedding):
    # the model keeps its own width and the metadata has no labels.
    class_outputs = True
    # How many images the model takes per example: 1, or 2 for a pair model (whose
    # batches hold ((images, images), targets)).
    model_inputs = 1
    # Why the run's best.keras is not exported (a sentence), or None: it is.
    export_refusal = None

    def targets(self, labels, num_classes):
        """A batch's targets from a batch of dataset labels (inside tf.data)."""
        raise NotImplementedError

    def per_example_loss(self, targets, outputs, *, label_smoothing=0.0):
        """One loss per example, shape (batch,), float32."""
        raise NotImplementedError

    def metrics(self, num_classes):
        """New keras metrics, updated with (targets, main output as float32)."""
        raise NotImplementedError

    # True: evaluation keeps every batch's targets and main output, and `split_metrics`
    # measures the whole split at once (what no per-batch metric can: ROC AUC over all pairs).
    whole_split_metrics = False

    def split_metrics(self, targets, outputs):
        """{name: float} over a whole split, from the numpy targets and main outputs of all
        its examples, as `kept` reduced them (called only when `whole_split_metrics`)."""
        return {}

    def kept(self, targets, outputs):
        """What evaluation keeps of a batch's targets and float32 main outputs for
        `split_metrics` (inside the compiled step): by default all of both; a task with
        large outputs keeps less (detection: the detections, not the raw grid)."""
        return targets, outputs

    def resolve_settings(self, config):
        """{field: value} of this task's `settings` with what `config` leaves open filled
        in (recorded in the run's flags.txt); raises HarnessError for a bad or missing one."""
        return {}

    def for_run(self, config):
        """This task as the run `config` (settings resolved) sets it up: a task with
        settings of its own (style: the style image's Gram matrices, the loss network)
        returns a copy bound to them."""
        return self

    def for_model(self, model, *, class_names=()):
        """This task as it trains `model` on classes `class_names`: a task whose targets
        depend on the built model (detection: its grid and anchors) returns a copy bound
        to it."""
        return self

    def model_args(self, model_args, *, model, data, image_shape):
        """The --model_args to build `model` with for `data` (a data.Data): the user's
        `model_args`, plus any the task derives from the data (detection: anchors)."""
        return model_args

    def report(self, results):
        """eval.json's task part from the test split's metrics (the loop's results dict)."""
        return dict(results)

    def evaluate_run(self, trainer, datasets, run_dir):
        """eval.json's task part for the run's best weights, which `trainer.model` holds:
        by default the test split's loss and metrics through `report`. `datasets`: split
        name -> batched (images, targets) dataset as evaluation reads it; a task that
        keeps more (a calibrated threshold, a plot) writes it in `run_dir`."""
        return self.report(trainer.evaluate(datasets["test"]))

    # --- data ---------------------------------------------------------------------

    def load_source(self, name, *, image_shape, data_dir, classes, download):
        """(raw splits, class names) of dataset `name`: split -> unbatched (image, label)."""
        raise NotImplementedError

    def train_batches(self, examples, *, batch_size, seed, **finish):
        """Endless training batches of (images, targets) from the cached unbatched
        `examples`, about `batch_size` each; by default shuffled, as `data.batches`
        makes them (`finish`: its augmenters, num_classes, input_range, ...)."""
        from training import data

        return data.batches(examples, batch_size=batch_size, training=True, seed=seed, task=self,
                            **finish)

    def eval_batches(self, examples, *, batch_size, **finish):
        """Batches of (images, targets) that evaluation reads from the cached unbatched
        `examples` of a held-out split, in order, once; by default `data.batches`'s."""
        from training import data

        return data.batches(examples, batch_size=batch_size, task=self, **finish)

    def prepare_label(self, label, image_shape):
        """One example's label fitted to the model's input (after the image is resized),
        as the cache keeps it: class indices as int32."""
        return tf.cast(label, tf.int32)

    def check_dataset(self, name, *, model):
        """An error sentence if dataset `name` cannot train `model` at this task (a flag
        check, before anything loads), else None."""
        return None

    def check_augment(self, names):
        """An error sentence if the --augment `names` do not fit this task, else None."""
        return None

    def check_data(self, name, data):
        """Raises DataError if the loaded splits of dataset `name` (a data.Data) cannot
        train and evaluate this task, before any training (similarity: identities with
        two images in validation and test, to make pairs of)."""

    def build_augmenter(self, names, **kwargs):
        """The per-image augmenter of --augment `names` (training/augment.py's
        `build_augmenter` arguments); `augment` applies it."""
        from training import augment

        return augment.build_augmenter(names, **kwargs)

    def augment(self, augmenter, images, labels):
        """(images, labels) of a training batch after `augmenter` (pixels in [0, 1],
        before `targets`): by default the labels do not move."""
        return augmenter(images, training=True), labels

    # --- export -------------------------------------------------------------------

    def export_model(self, model):
        """(the model export converts, what its metadata calls each output) from the
        run's best inference model: by default the model itself and `output_kind`."""
        return model, [self.output_kind]


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
    module = importlib.import_module(f"training.tasks.{_MODULES[name]}")
    return module.TASKS[name] if hasattr(module, "TASKS") else module.TASK


def all_tasks():
    return [get_task(n) for n in names()]


def of_model(model):
    """The task whose output `model` holds, told by the model itself (export's
    `output_kinds`: a YOLO grid is detection's, logits classification's), or None
    when no task's `output_kind` names it: what `zoo-export` exports a .keras
    file as, through the task's `export_model`, as the harness exports its runs."""
    from export.source import output_kinds

    kinds = output_kinds(model)
    if len(kinds) != 1:
        return None
    return next((task for task in all_tasks() if task.output_kind == kinds[0]), None)
