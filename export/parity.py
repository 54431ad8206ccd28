"""Parity: the LiteRT interpreter's outputs against the Keras model's, on real
held-out images. Float models must match within a tolerance on the logits;
quantized ones must agree on the top-1 class."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from export.errors import ParityError
from training.logs import stderr_silenced
from export.saved_model import output_keys

# Tolerance on the raw outputs (logits) for the float conversions, relative to
# their scale: max |TFLite - Keras| <= ATOL * max(1, max |Keras output|).
# Float32 rounding grows with the size of the values summed, so a fixed
# absolute bound fails models with large logits (ResNet-18 after one epoch:
# 3.7e-4 on logits of ~100, a relative 4e-6).
ATOL = {"none": 1e-4, "float16": 1e-2}
DEFAULT_THRESHOLD = 0.98
_CHUNK = 64


def interpreter(flatbuffer, num_threads=None):
    """An ai_edge_litert Interpreter (XNNPACK is its default CPU delegate), allocated.

    Allocation prints "Created TensorFlow Lite XNNPACK delegate" straight to
    file descriptor 2 once per process: noise in every report, so it is silenced.
    """
    interp = Interpreter(model_content=flatbuffer, num_threads=num_threads)
    with stderr_silenced():
        interp.allocate_tensors()
    return interp


def io_details(flatbuffer):
    """(input details, [output details in model order]) of the serving signature."""
    runner = interpreter(flatbuffer).get_signature_runner()
    inputs = runner.get_input_details()
    outputs = runner.get_output_details()
    return inputs, [outputs[k] for k in output_keys(outputs)]


def _quantize(images, details):
    scale, zero_point = details["quantization"]
    if not scale:
        return images.astype(details["dtype"])
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(images / scale + zero_point), info.min, info.max).astype(details["dtype"])


def _dequantize(values, details):
    scale, zero_point = details["quantization"]
    if not scale:
        return values.astype("float32")
    return (values.astype("float32") - zero_point) * scale


def run_tflite(flatbuffer, images):
    """The TFLite model's float outputs (a list, model order) on float `images`:
    quantized inputs and outputs are converted with their recorded parameters."""
    runner = interpreter(flatbuffer).get_signature_runner()
    (name, in_details), = runner.get_input_details().items()
    out_details = runner.get_output_details()
    keys = output_keys(out_details)
    chunks = []
    for start in range(0, len(images), _CHUNK):
        batch = _quantize(np.asarray(images[start:start + _CHUNK], "float32"), in_details)
        result = runner(**{name: batch})
        chunks.append([_dequantize(result[k], out_details[k]) for k in keys])
    return [np.concatenate(parts) for parts in zip(*chunks)]


def compare(expected, got, quantize, threshold=DEFAULT_THRESHOLD):
    """Parity figures per output and overall; raises ParityError on failure.

    float32/float16: max |TFLite - Keras| within ATOL times the outputs' scale,
    max(1, max |Keras|). dynamic/int8: share of
    positions (images, or pixels for per-pixel outputs) whose arg-max class
    agrees, at least `threshold`; the mean absolute error is reported too.
    """
    outputs = []
    for e, g in zip(expected, got):
        error = np.abs(g.astype("float64") - e)
        agreement = float(np.mean(np.argmax(g, -1) == np.argmax(e, -1)))
        outputs.append({"max_abs_error": float(error.max()), "mean_abs_error": float(error.mean()),
                        "top1_agreement": agreement,
                        "tolerance": ATOL.get(quantize, 0.0) * max(1.0, float(np.abs(e).max()))})
    if quantize in ATOL:
        rule = {"atol": ATOL[quantize]}
        passed = all(o["max_abs_error"] <= o["tolerance"] for o in outputs)
    else:
        rule = {"top1_threshold": threshold}
        passed = all(o["top1_agreement"] >= threshold for o in outputs)
    result = {"checked": True, "quantize": quantize, "samples": len(expected[0]), **rule,
              "outputs": outputs, "passed": passed and len(expected) == len(got)}
    if not result["passed"]:
        worst = max(outputs, key=lambda o: o["max_abs_error"] / o["tolerance"]) \
            if quantize in ATOL else min(outputs, key=lambda o: o["top1_agreement"])
        detail = (f"max abs error {worst['max_abs_error']:.3g} > {worst['tolerance']:.3g} "
                  f"(atol {ATOL[quantize]} x max(1, max |Keras output|))"
                  if quantize in ATOL else
                  f"top-1 agreement {worst['top1_agreement']:.4f} < threshold {threshold} "
                  f"(mean abs error {worst['mean_abs_error']:.3g})")
        raise ParityError(f"TFLite ({quantize}) parity with Keras failed on "
                          f"{len(expected[0])} held-out images: {detail}.")
    return result


def check(flatbuffer, images, expected, quantize, threshold=DEFAULT_THRESHOLD):
    return compare(expected, run_tflite(flatbuffer, images), quantize, threshold)
