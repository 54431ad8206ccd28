"""TFLite (LiteRT, XNNPACK) vs Keras batch-1 latency, float32 and int8, and file sizes.

Each model is exported by the project's own `export.export_model` (int8
calibrated on digits), then both runtimes are timed on the same machine in
the same process. Ratio = Keras time / TFLite time (> 1: TFLite is faster).
The models have fresh weights (latency does not depend on them), so int8's
top-1 agreement is reported, not enforced: untrained logits are near ties.
"""

import tempfile

import zoo
from bench.timing import summary
from export import export_model
from export.report import keras_latency_runs, tflite_latency_runs
from export.source import load_model

# model, input size (full run), input size (quick run)
MODELS = (("lenet5", 32, 32), ("mobilenet_v2", 224, 96), ("efficientnet_b0", 224, 96))
QUANTIZATIONS = ("none", "int8")
REPORT_ONLY = 1e-9  # the smallest threshold export accepts: agreement is reported


def run(quick):
    runs = 20 if quick else 100
    rows = []
    for name, size, quick_size in MODELS:
        size = quick_size if quick else size
        channels = zoo.registry._entry(name).input_shape[-1]
        model = load_model(name, (size, size, channels), None)
        keras_ms = summary([1000 * t for t in keras_latency_runs(model, runs)])
        for quantize in QUANTIZATIONS:
            with tempfile.TemporaryDirectory() as out:
                report = export_model(model, out, formats="tflite", quantize=quantize,
                                      representative_data="digits", latency_runs=0,
                                      representative_steps=20 if quick else 100,
                                      parity_threshold=REPORT_ONLY)
                with open(report["tflite"]["path"], "rb") as f:
                    flat = f.read()
            tflite_ms = summary([1000 * t for t in tflite_latency_runs(flat, runs)])
            parity = report["tflite"]["parity"]
            rows.append({
                "model": name, "input": size, "quantize": quantize,
                "tflite_ms": tflite_ms["median"], "keras_ms": keras_ms["median"],
                "ratio": keras_ms["median"] / tflite_ms["median"],
                "tflite_mb": len(flat) / 2**20,
                "top1_agreement": parity["outputs"][0]["top1_agreement"],
                "milliseconds": {"tflite": tflite_ms, "keras": keras_ms},
            })
    return rows
