"""python -m export (zoo-export): a .keras file or a zoo name -> SavedModel and
TFLite, checked against Keras; exits non-zero, writing nothing, on failure.

    python -m export --model=resnet18 --input_shape=32,32,3 --output_dir=out
    python -m export --model=lenet5.keras --quantize=int8 --representative_data=digits \
        --output_dir=out
"""

import functools

from absl import app, flags

from zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file, or a zoo model name built with fresh weights.")
flags.DEFINE_list("input_shape", None, "height,width,channels: a zoo model's input, or the size "
                  "for a saved model whose input has unknown dimensions.")
flags.DEFINE_integer("num_classes", None, "Classes of a zoo model built by name (default: its own).")
flags.DEFINE_string("output_dir", None, "Directory for the exported files.")
flags.DEFINE_list("formats", ["saved_model", "tflite"], "Comma list of: saved_model, tflite.")
flags.DEFINE_enum("quantize", "none", ["none", "float16", "dynamic", "int8"],
                  "TFLite quantization: none (float32), float16, dynamic (int8 weights), "
                  "int8 (full integer, needs --representative_data).")
flags.DEFINE_enum("quantized_io", "int8", ["int8", "uint8"], "Input/output type of an int8 model.")
flags.DEFINE_string("representative_data", None, "Dataset for int8 calibration (train split) and "
                    "parity (test split), e.g. digits. Without it, photos check parity.")
flags.DEFINE_integer("representative_steps", 100, "Calibration images for int8.", lower_bound=1)
flags.DEFINE_bool("allow_flex", False, "Keep Flex (SELECT_TF_OPS) ops instead of refusing them.")
flags.DEFINE_float("parity_threshold", 0.98, "Minimum top-1 agreement for dynamic/int8 models.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_list("value_range", None, "low,high of the model's input values (default: 0,255 "
                  "if the model normalises its input, as zoo models do, else 0,1).")
flags.DEFINE_list("labels", None, "Class names for the metadata (default: the dataset's).")
flags.DEFINE_integer("latency_runs", 50, "Batch-1 runs timed for the latency report (0: none).",
                     lower_bound=0)
flags.DEFINE_integer("num_threads", None, "Threads of the TFLite interpreter when timing.")
flags.mark_flags_as_required(["model", "output_dir"])


def _task_form(model):
    """(the model to export, its output kinds or None, its task or None): a model whose
    output a harness task names is exported as the harness exports that task's runs
    (`task.export_model`: a raw YOLO grid gets its decoding and NMS inside)."""
    import training  # noqa: F401  (the harness's tasks; the export library never imports them)
    from training import tasks

    task = tasks.of_model(model)
    if task is None:
        return model, None, None
    exported, kinds = task.export_model(model)
    return exported, kinds, task


def _dataset_images(name, image_shape, value_range, task):
    """(train images, test images, class names) of --representative_data `name`, at the
    model's input shape and range, with the targets of `task` (default classification)."""
    from export import ExportError
    from training import data

    load = functools.partial(data.arrays, name, image_shape=image_shape,
                             value_range=value_range, task=task or "classification")
    try:
        train, _, class_names = load(split="train")
        return train, load(split="test")[0], class_names
    except (ValueError, OSError) as error:  # DataError is a ValueError
        raise ExportError(f"--representative_data={name}: {error}") from error


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet()
    import export
    from export import files, report, source

    try:
        files.check_output_dir(FLAGS.output_dir)  # before the model loads
        value_range = None
        if FLAGS.value_range:
            try:
                value_range = tuple(float(v) for v in FLAGS.value_range)
            except ValueError:
                value_range = ()
            if len(value_range) != 2 or value_range[0] >= value_range[1]:
                raise export.ExportError(f"--value_range must be low,high; got "
                                         f"{','.join(FLAGS.value_range)!r}.")
        model = export.load_model(FLAGS.model, source.parse_shape(FLAGS.input_shape),
                                  FLAGS.num_classes)
        value_range = value_range or source.value_range_of(model)
        name = model.name  # the files keep the trained model's name, as the harness's do
        model, kinds, task = _task_form(model)
        representative, held_out, labels = None, None, FLAGS.labels
        if FLAGS.representative_data:
            representative, held_out, class_names = _dataset_images(
                FLAGS.representative_data, tuple(model.inputs[0].shape[1:]), value_range, task)
            labels = labels or class_names
        result = export.export_model(
            model, FLAGS.output_dir, formats=FLAGS.formats, quantize=FLAGS.quantize,
            representative_data=representative, held_out=held_out,
            representative_steps=FLAGS.representative_steps, quantized_io=FLAGS.quantized_io,
            allow_flex=FLAGS.allow_flex, parity_threshold=FLAGS.parity_threshold,
            value_range=value_range, labels=labels, latency_runs=FLAGS.latency_runs,
            num_threads=FLAGS.num_threads, output_kinds=kinds, name=name)
    except export.ExportError as error:
        cli.fail("zoo-export", error)
    print(report.summary(result))
    print(f"  report: {result['report_path']}\n  metadata: {result['metadata_path']}")


def run():
    """Console script entry point (zoo-export)."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
