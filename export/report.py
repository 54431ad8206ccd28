"""The report (sizes, ops, parity, latency) and the metadata sidecar for apps."""

import json
import statistics
import time

import numpy as np
import tensorflow as tf

from export import parity
from zoo.utils import versions

LATENCY_WARMUP = 3


def _seconds_per_run(run, runs):
    """Seconds of each of `runs` calls of `run`, after LATENCY_WARMUP untimed ones."""
    for _ in range(LATENCY_WARMUP):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def tflite_runner(flatbuffer, num_threads=None):
    """A callable that runs the TFLite model once at batch 1, with XNNPACK (LiteRT's
    default) on `num_threads` threads (None: LiteRT's default)."""
    interp = parity.interpreter(flatbuffer, num_threads=num_threads)
    interp.allocate_tensors()
    (details,) = interp.get_input_details()
    interp.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
    return interp.invoke


def keras_runner(model):
    """A callable that runs the Keras model once at batch 1 as a compiled tf.function."""
    forward = tf.function(lambda x: model(x, training=False))
    batch = tf.zeros((1, *model.inputs[0].shape[1:]))
    return lambda: tf.nest.map_structure(lambda t: t.numpy(), forward(batch))


def tflite_latency_runs(flatbuffer, runs, num_threads=None):
    """Batch-1 seconds per run of the TFLite model with XNNPACK (LiteRT's default)."""
    return _seconds_per_run(tflite_runner(flatbuffer, num_threads), runs)


def keras_latency_runs(model, runs):
    """Batch-1 seconds per run of the Keras model as a compiled tf.function."""
    return _seconds_per_run(keras_runner(model), runs)


def tflite_latency_ms(flatbuffer, runs, num_threads=None):
    """Median batch-1 latency of the TFLite model, in ms."""
    return 1000 * statistics.median(tflite_latency_runs(flatbuffer, runs, num_threads))


def keras_latency_ms(model, runs):
    """Median batch-1 latency of the Keras model, in ms."""
    return 1000 * statistics.median(keras_latency_runs(model, runs))


def environment():
    """zoo.utils.versions(), plus the LiteRT runtime's own version."""
    import ai_edge_litert

    return {**versions(), "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown")}


def _quantization(details):
    scale, zero_point = details["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None


def metadata(model, *, name, value_range, labels, kinds, tflite_io=None):
    """What a mobile app needs to feed the model and read its outputs.

    normalisation: model input = pixel * scale + offset, for 8-bit pixels 0-255;
    a quantized input is then q = round(input / q_scale + q_zero_point).
    """
    import zoo
    low, high = value_range
    in_details, out_details = tflite_io or (None, [None] * len(model.outputs))
    input_details = next(iter(in_details.values())) if in_details else None
    return {
        "model": name,
        "zoo_version": zoo.__version__,
        "input": {
            "name": "images",
            "shape": [1, *model.inputs[0].shape[1:]],
            "layout": "NHWC",
            "dtype": np.dtype(input_details["dtype"]).name if input_details else "float32",
            "value_range": [low, high],
            "normalization": {"scale": (high - low) / 255.0, "offset": low,
                              "formula": "input = pixel * scale + offset (pixel in 0..255)"},
            "quantization": _quantization(input_details) if input_details else None,
        },
        "outputs": [{
            "name": tensor._keras_history.operation.name,
            "shape": [1, *tensor.shape[1:]],
            "kind": kind,
            "dtype": np.dtype(details["dtype"]).name if details else "float32",
            "quantization": _quantization(details) if details else None,
        } for tensor, kind, details in zip(model.outputs, kinds, out_details)],
        "labels": list(labels) if labels is not None else None,
    }


def dumps(obj):
    return json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n"


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


def summary(report):
    """A few human-readable lines of the report, for the console."""
    lines = [f"exported {report['model']} -> {report['output_dir']}"]
    for artifact in report["artifacts"]:
        lines.append(f"  {artifact['format']:<12} {artifact['path']}  "
                     f"({artifact['bytes'] / 1e6:.2f} MB)")
    tfl = report.get("tflite")
    if tfl:
        p = tfl["parity"]
        if p.get("checked") and "detection_agreement" in p:  # a detector: detections matched
            lines.append(f"  parity ({tfl['quantize']}, {p['samples']} images): "
                         f"{p['detections']} detections, agreement {p['detection_agreement']:.4f} "
                         f"(same class, IoU >= {p['rule']['min_iou']})")
        elif p.get("checked"):
            o = p["outputs"][0]
            agreement = (f"top-1 agreement {o['top1_agreement']:.4f}" if "top1_agreement" in o
                         else f"mean abs error {o['mean_abs_error']:.3g}; the {o['statistic']} "
                         f"within {o['tolerance']:.3g} pixels")
            lines.append(f"  parity ({tfl['quantize']}, {p['samples']} images): max abs error "
                         f"{o['max_abs_error']:.3g}, {agreement}")
        else:
            lines.append(f"  parity not checked: {p['reason']}")
        latency = report.get("latency_ms")
        if latency:
            lines.append(f"  batch-1 latency: TFLite {latency['tflite']:.2f} ms, "
                         f"Keras {latency['keras']:.2f} ms")
        if tfl["flex"]["ops"]:
            lines.append(f"  Flex ops (allowed): {', '.join(tfl['flex']['ops'])}")
    return "\n".join(lines)
