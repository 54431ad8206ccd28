"""export_model: Keras model -> SavedModel and/or TFLite, checked, reported."""

import dataclasses
import os
from collections.abc import Sequence

import keras
import numpy as np
from absl import logging
from numpy.typing import ArrayLike

from export import data, parity, saved_model, source, tflite
from export import report as reporting
from export.errors import ExportError
from export.files import Staging, check_output_dir, size_of
from zoo import layers as zl

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


def _class_count(model, tensor, kind):
    """How many classes an output of this kind names (None: it names none): the
    channels of class logits or probabilities, a YOLO grid's classes for the grid
    and for a detector's class indices."""
    if kind.endswith(("logits", "probabilities")):
        return tensor.shape[-1]
    if kind in (source.YOLO_GRID, "detection_classes"):
        return next(layer.num_classes for layer in model.layers if isinstance(layer, zl.YoloGrid))
    return None


def _check_labels(model, kinds, labels):
    """The metadata's labels name the classes of the class outputs (per image, per
    pixel or per detection), so their count must be each one's class count."""
    if labels is None:
        return
    for tensor, kind in zip(model.outputs, kinds):
        classes = _class_count(model, tensor, kind)
        if classes is not None and classes != len(labels):
            raise ExportError(f"{len(labels)} labels were given but {model.name}'s output "
                              f"{tensor._keras_history.operation.name!r} has {classes} classes; "
                              f"pass {classes} labels, one per class.")


def _score_threshold(model):
    """A detector's score threshold (its YoloDetections layer's), else 0."""
    return next((layer.score_threshold for layer in model.layers if isinstance(layer, zl.YoloDetections)), 0.0)


def _as_list(outputs):
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) \
        else [np.asarray(outputs)]


def keras_outputs(model, images):
    return _as_list(model.predict(images, batch_size=64, verbose=0))


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every step needs: the loaded model and the checked arguments."""

    model: keras.Model
    name: str
    stem: str  # file name stem: the name, plus the quantization if any
    image_shape: tuple
    value_range: tuple
    kinds: list
    labels: list | None
    held_out: np.ndarray
    expected: list  # Keras outputs on held_out


def export_model(model: keras.Model | str | os.PathLike, output_dir: str | os.PathLike, *,
                 formats: str | Sequence[str] = FORMATS, quantize: str = "none",
                 representative_data: ArrayLike | None = None, representative_steps: int = 100,
                 quantized_io: str = "int8", allow_flex: bool = False,
                 parity_threshold: float = parity.DEFAULT_THRESHOLD,
                 held_out: ArrayLike | None = None, labels: Sequence[str] | None = None,
                 value_range: tuple[float, float] | None = None,
                 input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
                 name: str | None = None, latency_runs: int = 50, num_threads: int | None = None,
                 output_kinds: Sequence[str] | None = None) -> dict:
    """Exports `model` to `output_dir` and returns the report (a dict).

    model: a keras.Model, a .keras path or a zoo name (built with fresh weights,
      at `input_shape` / `num_classes` if given).
    formats: "saved_model" and/or "tflite". quantize: none | float16 | dynamic |
      int8 (TFLite only); int8 uses `quantized_io` (int8 or uint8) input/output.
    representative_data: training images (an array, in the model's input range)
      that calibrate int8. Dataset names are the CLIs' business
      (`zoo-export --representative_data=digits`); in code pass the images, e.g.
      `training.data.arrays("digits", ...)`.
    held_out: images the parity checks run on (default: scikit-image photos).
    value_range: the model's input range; default (0, 255) if the model normalises
      its input itself (every zoo model unless built with include_preprocessing=False),
      else (0, 1).
    output_kinds: what the metadata calls each output ("logits", "per_pixel_logits",
      "features", ...); default: told by each output's shape (`source.output_kinds`).
    Raises ExportError (FlexOpsError, ParityError) and then writes nothing; an
    existing output is replaced only by an export that passed its checks.
    """
    check_output_dir(output_dir)
    formats = parse_formats(formats)
    _check_arguments(quantize, quantized_io, representative_steps, parity_threshold, latency_runs)
    representative = _representative(representative_data, quantize, formats)
    job = _load(model, input_shape=input_shape, num_classes=num_classes, name=name,
                value_range=value_range, labels=labels, held_out=held_out,
                output_kinds=output_kinds, quantize=quantize)
    result = {"model": job.name, "output_dir": os.path.abspath(output_dir),
              "formats": list(formats), "input_shape": list(job.image_shape),
              "value_range": list(job.value_range), "outputs": job.kinds, "artifacts": [],
              "environment": reporting.environment()}
    with Staging(output_dir) as stage:
        sm_path = _saved_model(job, stage, keep="saved_model" in formats, result=result)
        io = None
        if "tflite" in formats:
            io = _tflite(job, stage, sm_path, result=result, quantize=quantize,
                         representative=representative, representative_steps=representative_steps,
                         quantized_io=quantized_io, allow_flex=allow_flex,
                         parity_threshold=parity_threshold, latency_runs=latency_runs,
                         num_threads=num_threads)
        meta = _commit(job, stage, result, tflite_io=io)
    result["metadata"] = meta
    return result


def _representative(images, quantize, formats):
    """The int8 calibration images as float32, checked against the quantization asked."""
    if quantize == "int8" and images is None:
        raise ExportError("int8 quantization needs representative data from the training "
                          "set (--representative_data, e.g. digits).")
    if quantize != "none" and "tflite" not in formats:
        raise ExportError(f"quantize={quantize!r} applies to TFLite; add tflite to formats.")
    if isinstance(images, str):
        raise ExportError(f"representative_data must be an array of images; got the name "
                          f"{images!r}. Dataset names are resolved by the command line "
                          f"(zoo-export --representative_data={images}); in code pass the "
                          f"images, e.g. training.data.arrays({images!r}, ...)[0].")
    return None if images is None else np.asarray(images, "float32")


def _load(spec, *, input_shape, num_classes, name, value_range, labels, held_out, output_kinds,
          quantize):
    """Step 1: the inference model in float32, its facts, and its outputs on held_out."""
    model = source.load_model(spec, input_shape, num_classes)
    name = name or model.name
    image_shape = tuple(model.inputs[0].shape[1:])
    value_range = tuple(value_range or source.value_range_of(model))
    kinds = list(output_kinds) if output_kinds is not None else source.output_kinds(model)
    if len(kinds) != len(model.outputs):
        raise ExportError(f"output_kinds names {len(kinds)} outputs; {model.name} has "
                          f"{len(model.outputs)}.")
    _check_labels(model, kinds, labels)
    held_out = data.photos(image_shape, value_range) if held_out is None else held_out
    held_out = np.asarray(held_out, "float32")[:MAX_PARITY_IMAGES]
    if held_out.shape[1:] != image_shape:
        raise ExportError(f"held-out images have shape {held_out.shape[1:]}; the model takes "
                          f"{image_shape}.")
    stem = name if quantize == "none" else f"{name}_{quantize}"
    return _Job(model, name, stem, image_shape, value_range, kinds,
                None if labels is None else list(labels), held_out, keras_outputs(model, held_out))


def _saved_model(job, stage, *, keep, result):
    """Step 2: the SavedModel (TFLite converts from it), round-trip checked if kept."""
    sm_name = f"{job.name}_saved_model"
    sm_path = stage.path(sm_name) if keep else os.path.join(stage.dir, ".sm")
    logging.info("Writing the SavedModel of %s", job.name)
    saved_model.export_saved_model(job.model, sm_path, _metadata(job))
    if keep:
        round_trip = saved_model.check_saved_model(sm_path, job.held_out, job.expected)
        artifact = {"path": stage.final(sm_name), "bytes": size_of(sm_path)}
        result["saved_model"] = {**artifact, "round_trip": round_trip}
        result["artifacts"].append({"format": "saved_model", **artifact})
    return sm_path


def _tflite(job, stage, sm_path, *, result, quantize, representative, representative_steps,
            quantized_io, allow_flex, parity_threshold, latency_runs, num_threads):
    """Step 3: the TFLite file, its parity with Keras and its latency; returns its I/O details."""
    logging.info("Converting %s to TFLite (%s)", job.name, quantize)
    tflite.check_runtime_support(job.model)
    float_layers = tflite.float_layer_names(job.model)
    flat = tflite.convert(sm_path, quantize, representative, representative_steps, quantized_io,
                          float_layers=float_layers)
    counts = tflite.op_counts(flat)
    flex = tflite.check_flex(flat, job.model, allow_flex)
    io = None
    if flex["ops"]:
        check = {"checked": False, "passed": None,
                 "reason": "Flex ops need the Flex delegate, which the LiteRT interpreter here lacks"}
    else:
        check = parity.check(flat, job.held_out, job.expected, quantize, parity_threshold,
                             kinds=job.kinds, score_threshold=_score_threshold(job.model))
        io = parity.io_details(flat)
    file_name = f"{job.stem}.tflite"
    with open(stage.path(file_name), "wb") as f:
        f.write(flat)
    int8 = quantize == "int8"
    result["tflite"] = {
        "path": stage.final(file_name), "bytes": len(flat), "quantize": quantize,
        "quantized_io": quantized_io if int8 else None,
        "representative": ({"data": "array", "steps": min(representative_steps, len(representative))}
                           if int8 else None),
        "op_counts": counts, "ops_total": sum(counts.values()), "flex": flex, "parity": check,
        "float32_layers": float_layers if int8 else [],  # the layers an int8 model runs in float
    }
    result["artifacts"].append({"format": "tflite", "path": stage.final(file_name),
                                "bytes": len(flat)})
    if latency_runs and not flex["ops"]:
        result["latency_ms"] = {
            "tflite": reporting.tflite_latency_ms(flat, latency_runs, num_threads),
            "keras": reporting.keras_latency_ms(job.model, latency_runs),
            "runs": latency_runs, "batch": 1, "tflite_delegate": "XNNPACK",
            "num_threads": num_threads}
    return io


def _metadata(job, tflite_io=None):
    return reporting.metadata(job.model, name=job.name, value_range=job.value_range,
                              labels=job.labels, kinds=job.kinds, tflite_io=tflite_io)


def _commit(job, stage, result, *, tflite_io):
    """Step 4: the metadata sidecar and the report beside the artifacts, then all
    of them moved into place at once; returns the metadata."""
    meta = _metadata(job, tflite_io)
    meta_name, report_name = f"{job.stem}.metadata.json", f"{job.stem}.report.json"
    result["metadata_path"] = stage.final(meta_name)
    result["report_path"] = stage.final(report_name)
    with open(stage.path(meta_name), "w") as f:
        f.write(reporting.dumps(meta))
    with open(stage.path(report_name), "w") as f:
        f.write(reporting.dumps(result))
    stage.commit()
    return meta
