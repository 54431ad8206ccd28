"""export_model: Keras model -> SavedModel and/or TFLite, checked, reported."""

import functools
import os

import numpy as np
from absl import logging

from export import data, parity, saved_model, source, tflite
from export import report as reporting
from export.errors import ExportError
from export.files import Staging, check_output_dir, size_of

FORMATS = ("saved_model", "tflite")
MAX_PARITY_IMAGES = 512


def parse_formats(formats):
    """'saved_model,tflite' or a sequence -> a checked tuple."""
    names = [f.strip() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    bad = [f for f in names if f not in FORMATS]
    if bad or not names or not any(names):
        shown = formats if isinstance(formats, str) else ",".join(map(str, formats))
        raise ExportError(f"formats must be a comma list of {', '.join(FORMATS)}; got {shown!r}.")
    return tuple(dict.fromkeys(names))


def _check_arguments(quantize, quantized_io, representative_steps, parity_threshold, latency_runs):
    if quantize not in tflite.QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {', '.join(tflite.QUANTIZATIONS)}; "
                          f"got {quantize!r}.")
    if quantized_io not in tflite.QUANTIZED_IO:
        raise ExportError(f"quantized_io must be one of {', '.join(tflite.QUANTIZED_IO)}; "
                          f"got {quantized_io!r}.")
    if not isinstance(representative_steps, int) or representative_steps < 1:
        raise ExportError(f"representative_steps must be a positive int; got {representative_steps!r}.")
    if not 0 < parity_threshold <= 1:
        raise ExportError(f"parity_threshold must be in (0, 1]; got {parity_threshold!r}.")
    if not isinstance(latency_runs, int) or latency_runs < 0:
        raise ExportError(f"latency_runs must be an int >= 0; got {latency_runs!r}.")


def _check_labels(model, kinds, labels, origin):
    """The metadata's labels name the classes of the class outputs (per image or
    per pixel), so their count must be each one's class (channel) count."""
    if labels is None:
        return
    for tensor, kind in zip(model.outputs, kinds):
        classes = tensor.shape[-1]
        if kind != "features" and classes is not None and classes != len(labels):
            raise ExportError(f"{len(labels)} labels {origin} but {model.name}'s output "
                              f"{tensor._keras_history.operation.name!r} has {classes} classes; "
                              f"pass {classes} labels, one per class.")


def _as_list(outputs):
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) \
        else [np.asarray(outputs)]


def keras_outputs(model, images):
    return _as_list(model.predict(images, batch_size=64, verbose=0))


def export_model(model, output_dir, *, formats=FORMATS, quantize="none", representative_data=None,
                 representative_steps=100, quantized_io="int8", allow_flex=False,
                 parity_threshold=parity.DEFAULT_THRESHOLD, held_out=None, labels=None,
                 value_range=None, input_shape=None, num_classes=None, name=None,
                 latency_runs=50, num_threads=None, task=None):
    """Exports `model` to `output_dir` and returns the report (a dict).

    model: a keras.Model, a .keras path or a zoo name (built with fresh weights,
      at `input_shape` / `num_classes` if given).
    formats: "saved_model" and/or "tflite". quantize: none | float16 | dynamic |
      int8 (TFLite only); int8 uses `quantized_io` (int8 or uint8) input/output.
    representative_data: a dataset name ("digits") or an array of images in the
      model's input range; its train split calibrates int8, its test split is
      the held-out parity set unless `held_out` (images) is given; without
      either, scikit-image photos check parity.
    value_range: the model's input range; default (0, 255) if the model normalises
      its input itself (every zoo model unless built with include_preprocessing=False),
      else (0, 1).
    task: the model's task (a name, training/tasks), for representative data;
      default: the task whose kind of output the main output is.
    Raises ExportError (FlexOpsError, ParityError) and then writes nothing; an
    existing output is replaced only by an export that passed its checks.
    """
    check_output_dir(output_dir)
    formats = parse_formats(formats)
    _check_arguments(quantize, quantized_io, representative_steps, parity_threshold, latency_runs)
    if quantize == "int8" and representative_data is None:
        raise ExportError("int8 quantization needs representative data from the training "
                          "set (--representative_data, e.g. digits).")
    if quantize != "none" and "tflite" not in formats:
        raise ExportError(f"quantize={quantize!r} applies to TFLite; add tflite to formats.")
    model = source.load_model(model, input_shape, num_classes)
    name = name or model.name
    image_shape = tuple(model.inputs[0].shape[1:])
    value_range = tuple(value_range or source.value_range_of(model))
    kinds = source.output_kinds(model)
    _check_labels(model, kinds, labels, "were given")

    representative = None
    if isinstance(representative_data, str):
        # The dataset's labels must be the model's task's (class labels or masks).
        load = functools.partial(data.load_dataset, representative_data, image_shape=image_shape,
                                 value_range=value_range, task=task or source.main_task(model))
        representative, _, class_names = load(split="train")
        if labels is None:
            labels = class_names
            _check_labels(model, kinds, labels, f"came from the class names of representative "
                                                f"data {representative_data!r}")
        if held_out is None:
            held_out = load(split="test")[0]
    elif representative_data is not None:
        representative = np.asarray(representative_data, "float32")
    if held_out is None:
        held_out = data.photos(image_shape, value_range)
    held_out = np.asarray(held_out, "float32")[:MAX_PARITY_IMAGES]
    if held_out.shape[1:] != image_shape:
        raise ExportError(f"held-out images have shape {held_out.shape[1:]}; the model takes {image_shape}.")
    expected = keras_outputs(model, held_out)

    stem = name if quantize == "none" else f"{name}_{quantize}"
    result = {"model": name, "output_dir": os.path.abspath(output_dir), "formats": list(formats),
              "input_shape": list(image_shape), "value_range": list(value_range),
              "outputs": kinds, "artifacts": [], "environment": reporting.environment()}
    with Staging(output_dir) as stage:
        sm_name = f"{name}_saved_model"
        sm_path = stage.path(sm_name) if "saved_model" in formats else os.path.join(stage.dir, ".sm")
        logging.info("Writing the SavedModel of %s", name)
        saved_model.export_saved_model(model, sm_path, reporting.metadata(
            model, name=name, value_range=value_range, labels=labels, kinds=kinds))
        if "saved_model" in formats:
            round_trip = saved_model.check_saved_model(sm_path, held_out, expected)
            result["saved_model"] = {"path": stage.final(sm_name), "bytes": size_of(sm_path),
                                     "round_trip": round_trip}
            result["artifacts"].append({"format": "saved_model", "path": stage.final(sm_name),
                                        "bytes": size_of(sm_path)})
        io = None
        if "tflite" in formats:
            logging.info("Converting %s to TFLite (%s)", name, quantize)
            flat = tflite.convert(sm_path, quantize, representative, representative_steps,
                                  quantized_io)
            counts = tflite.op_counts(flat)
            flex = tflite.check_flex(flat, model, allow_flex)
            if flex["ops"]:
                check = {"checked": False, "passed": None,
                         "reason": "Flex ops need the Flex delegate, which the LiteRT "
                                   "interpreter here lacks"}
            else:
                check = parity.check(flat, held_out, expected, quantize, parity_threshold)
                io = parity.io_details(flat)
            tfl_name = f"{stem}.tflite"
            with open(stage.path(tfl_name), "wb") as f:
                f.write(flat)
            result["tflite"] = {
                "path": stage.final(tfl_name), "bytes": len(flat), "quantize": quantize,
                "quantized_io": quantized_io if quantize == "int8" else None,
                "representative": ({"data": representative_data if isinstance(representative_data, str)
                                    else "array", "steps": min(representative_steps, len(representative))}
                                   if quantize == "int8" else None),
                "op_counts": counts, "ops_total": sum(counts.values()), "flex": flex, "parity": check,
            }
            result["artifacts"].append({"format": "tflite", "path": stage.final(tfl_name),
                                        "bytes": len(flat)})
            if latency_runs and not flex["ops"]:
                result["latency_ms"] = {
                    "tflite": reporting.tflite_latency_ms(flat, latency_runs, num_threads),
                    "keras": reporting.keras_latency_ms(model, latency_runs),
                    "runs": latency_runs, "batch": 1, "tflite_delegate": "XNNPACK",
                    "num_threads": num_threads}
        meta = reporting.metadata(model, name=name, value_range=value_range, labels=labels,
                                  kinds=kinds, tflite_io=io)
        meta_name, report_name = f"{stem}.metadata.json", f"{stem}.report.json"
        result["metadata_path"] = stage.final(meta_name)
        result["report_path"] = stage.final(report_name)
        with open(stage.path(meta_name), "w") as f:
            f.write(reporting.dumps(meta))
        with open(stage.path(report_name), "w") as f:
            f.write(reporting.dumps(result))
        stage.commit()
    result["metadata"] = meta
    return result
