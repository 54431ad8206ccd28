"""A zoo-train run folder explained: `explain_run`, what zoo-explain does.

    report = explain_run("runs/lenet5_relu-digits-20261126-031500")  # <run>/explain/*.png

Reads the run's best.keras and flags.txt (its model, dataset and classes)
and, without image files, loads the run's test split as the harness did
(through training.data: a run folder is the harness's, so this module, alone
in zoo, reads the harness; it imports it only when called).
"""

import os

from zoo.explain import parts


class ExplainError(ValueError):
    """A run or image zoo-explain cannot use; the message says what to pass."""


def _run_files(model_dir):
    """best.keras and flags.txt of the run folder `model_dir`."""
    if not os.path.isdir(model_dir):
        raise ExplainError(f"--model_dir={model_dir!r} is not a directory; give a zoo-train run "
                           "folder (it holds best.keras and flags.txt).")
    files = [os.path.join(model_dir, name) for name in ("best.keras", "flags.txt")]
    missing = [os.path.basename(f) for f in files if not os.path.isfile(f)]
    if missing:
        raise ExplainError(f"--model_dir={model_dir!r} has no {' and no '.join(missing)}; give a "
                           "zoo-train run folder (it holds best.keras and flags.txt).")
    return files


def _user_images(paths, input_shape, value_range):
    import numpy as np

    from zoo.explain.predict import PredictError, read_image

    low, high = value_range
    try:
        return np.stack([read_image(p, input_shape) * ((high - low) / 255.0) + low for p in paths])
    except PredictError as error:
        raise ExplainError(str(error)) from None


def explain_run(model_dir, images=None, what=("all",), output_dir=None, examples=8):
    """zoo-explain as a function: draws the parts `what` of the run in
    `model_dir` on the image files `images` (None: the run's test split) into
    `output_dir` (default <model_dir>/explain); returns explain.json's content."""
    import keras

    import zoo
    from training import data, tasks
    from training.config import RunConfig
    from zoo.explain.predict import metadata_sidecar

    model_dir = os.fspath(model_dir)
    model_path, flagfile = _run_files(model_dir)
    try:
        config = RunConfig.from_flagfile(flagfile)
        entry = zoo.get_entry(config.model)
    except ValueError as error:
        raise ExplainError(f"{flagfile}: {error}") from None
    task = tasks.get_task(entry.task)
    try:
        parts.check_parts(what, task.output_kind)  # before anything loads
    except ValueError as error:
        raise ExplainError(f"--what: {error} ({config.model} is a {task.name} model)") from None
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) != 3:
        raise ExplainError(f"zoo-explain draws 2D image models; {config.model} in {model_dir} "
                           f"takes inputs of shape {input_shape}.")
    if images:
        pixels, labels = _user_images(images, input_shape, entry.input_range), None
        meta = metadata_sidecar(model_path)
        class_names = meta.get("labels") if meta else None
    else:
        source = data.load(config.dataset, image_shape=input_shape, task=task,
                           data_dir=config.data_dir, classes=config.classes, download=False)
        pixels, labels = data.split_arrays(source.cached["test"], value_range=entry.input_range,
                                           limit=parts.MAX_COLLECTION)
        class_names = source.class_names
    return parts.explain_model(model, pixels, output_dir or os.path.join(model_dir, "explain"),
                               what=what, labels=labels, kind=task.output_kind,
                               value_range=entry.input_range, class_names=class_names,
                               examples=examples)
