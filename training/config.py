"""RunConfig: everything a training run needs, resolved once from the flags.

`train(config)` and everything below it read this frozen dataclass, never
absl's FLAGS, so library callers and tests build one directly:

    train(RunConfig(model="resnet18", image_size=64, epochs=10))

The defaults here are the flags' defaults (training/flags.py reads them).
`flagfile_lines()` records a run as an absl flagfile, paths made absolute so
that `--flagfile=<run>/flags.txt --resume` works from any directory.
"""

import dataclasses
import os
import typing

# The learning rate of a run whose model's registry entry and task name none: Adam's,
# tuned on LeNet-5 (the default job) and fine for the BatchNorm classifiers.
LEARNING_RATE = 5e-3


@dataclasses.dataclass(frozen=True)
class RunConfig:
    # model and data
    model: str = "lenet5_relu"
    model_args: tuple = ()  # "name=value" strings, parsed by flags.parse_model_args
    dataset: str | None = None  # None: the model's task's default (digits; photos for style)
    data_dir: str | None = None
    download: bool = True
    classes: tuple = ()
    image_size: int | None = None
    # optimisation
    batch_size: int = 32
    epochs: int = 20
    optimizer: str = "adam"
    learning_rate: float | None = None  # None: the model's own (see `with_model_defaults`)
    schedule: str = "cosine"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: tuple | None = None  # None: the model's own (its registry entry's `augment`)
    precise_bn_batches: int = 20
    # transfer
    pretrained: str | None = None
    freeze_backbone: bool = False
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-4
    # runtime
    mixed_precision: str = "auto"
    strategy: str = "default"
    seed: int = 0
    deterministic: bool = False
    # outputs
    model_dir: str | None = None
    resume: bool = False
    export: tuple = ("saved_model", "tflite")
    explain: tuple = ()  # zoo.explain parts drawn into <model_dir>/explain at the end; "all"
    # the style task's own (training/tasks/style.py); None: its defaults
    style_image: str | None = None
    content_layer: str | None = None
    style_layers: tuple = ()
    style_weight: float = 1.0
    tv_weight: float = 1.0
    perceptual_weights: str = "auto"

    def with_model_defaults(self, entry, task):
        """This config with what it leaves to the model filled in: the augmentations
        it trains with by default (its registry `entry`'s), its learning rate (the
        entry's, else its task's, else LEARNING_RATE), the dataset and the settings of
        its task (a training.tasks.Task)."""
        changes = {"dataset": self.dataset or task.default_dataset, **task.resolve_settings(self)}
        if self.augment is None:
            changes["augment"] = tuple(entry.augment)
        if self.learning_rate is None:
            changes["learning_rate"] = next(rate for rate in (
                entry.learning_rate, task.learning_rate, LEARNING_RATE) if rate is not None)
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_flags(cls, flag_values):
        """The config the parsed absl `flag_values` describe (lists become tuples)."""
        values = {}
        for field in dataclasses.fields(cls):
            value = flag_values[field.name].value
            values[field.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    @classmethod
    def from_flag_lines(cls, lines):
        """The config that flagfile lines describe (`--name=value`, `--name`,
        `--noname`, as `flagfile_lines` writes them); fields not named keep their
        defaults. Raises ValueError for a name that is no field."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for line in lines:
            name, sep, text = line.strip().lstrip("-").partition("=")
            if not sep:  # a boolean: --name or --noname
                field = name if name in fields else name[2:] if name.startswith("no") else name
                if field not in fields or fields[field].type is not bool:
                    raise ValueError(f"{line.strip()!r} is not a boolean flag of a run.")
                values[field] = name == field
                continue
            if name not in fields:
                raise ValueError(f"{line.strip()!r}: {name!r} is not a flag of a run.")
            types = typing.get_args(fields[name].type) or (fields[name].type,)
            if tuple in types:
                values[name] = tuple(t for t in text.split(",") if t)
            else:
                convert = next((t for t in (int, float) if t in types), str)
                values[name] = convert(text)
        return cls(**values)

    @classmethod
    def from_flagfile(cls, path):
        """The config a run recorded in its flags.txt."""
        with open(path) as f:
            return cls.from_flag_lines(line for line in f if line.strip())

    def with_absolute_paths(self):
        """model_dir, data_dir, pretrained, a style image file and folder: / coco: datasets
        as absolute paths."""
        def absolute(path):
            return None if path is None else os.path.abspath(os.path.expanduser(path))

        dataset = self.dataset
        for prefix in ("folder:", "coco:"):
            if dataset and dataset.startswith(prefix):
                dataset = prefix + absolute(dataset[len(prefix):])
        pretrained = self.pretrained
        if pretrained not in (None, "imagenet"):
            pretrained = absolute(pretrained)
        style_image = self.style_image  # a file, or the name of a bundled sample
        if style_image and os.path.exists(style_image):
            style_image = absolute(style_image)
        return dataclasses.replace(self, model_dir=absolute(self.model_dir),
                                   data_dir=absolute(self.data_dir), dataset=dataset,
                                   pretrained=pretrained, style_image=style_image)

    def flagfile_lines(self):
        """`--name=value` lines (absl flagfile syntax) for every field that is set."""
        lines = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or field.name == "resume":  # resume is an action, not the run
                continue
            if isinstance(value, bool):
                lines.append(f"--{'' if value else 'no'}{field.name}")
            elif isinstance(value, tuple):
                lines.append(f"--{field.name}={','.join(map(str, value))}")
            else:
                lines.append(f"--{field.name}={value}")
        return lines
