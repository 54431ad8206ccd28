"""TFLite (LiteRT, XNNPACK) vs Keras batch-1 latency, float32 and int8, and file sizes.

Each model is converted by the project's own exporter (SavedModel, then the
TFLite converter; int8 calibrated on digits), then both runtimes are timed on
the same machine in the same process. Ratio = Keras time / TFLite time (> 1:
TFLite is faster). The models have fresh weights, which latency does not
depend on; parity is the export tests' business, not this benchmark's (fresh
logits are near ties, so int8 top-1 agreement would say nothing here).
"""

import os
import tempfile

import zoo
from bench.timing import summary
from export import saved_model, source, tflite
from export.report import keras_latency_runs, tflite_latency_runs
from training.data import arrays

# model, input size (full run), input size (quick run)
MODELS = (("lenet5", 32, 32), ("mobilenet_v2", 224, 96), ("efficientnet_b0", 224, 96))
QUANTIZATIONS = ("none", "int8")


def _flatbuffers(model, steps):
    """{quantization: TFLite bytes} for `model`, from one SavedModel."""
    shape = tuple(model.inputs[0].shape[1:])
    calibration = arrays("digits", image_shape=shape, split="train",
                         value_range=source.value_range_of(model))[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "saved_model")
        saved_model.export_saved_model(model, path, {})
        return {q: tflite.convert(path, q, calibration, steps) for q in QUANTIZATIONS}


def run(quick):
    runs = 20 if quick else 100
    rows = []
    for name, size, quick_size in MODELS:
        size = quick_size if quick else size
        channels = zoo.get_entry(name).input_shape[-1]
        model = source.load_model(name, (size, size, channels))
        keras_ms = summary([1000 * t for t in keras_latency_runs(model, runs)])
        for quantize, flat in _flatbuffers(model, 20 if quick else 100).items():
            tflite_ms = summary([1000 * t for t in tflite_latency_runs(flat, runs)])
            rows.append({
                "model": name, "input": size, "quantize": quantize,
                "tflite_ms": tflite_ms["median"], "keras_ms": keras_ms["median"],
                "ratio": keras_ms["median"] / tflite_ms["median"], "tflite_mb": len(flat) / 2**20,
                "milliseconds": {"tflite": tflite_ms, "keras": keras_ms},
            })
    return rows
