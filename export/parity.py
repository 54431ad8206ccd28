"""Parity: the LiteRT interpreter's outputs against the Keras model's, on real
held-out images. Float models must match within a tolerance on the logits;
quantized ones must agree on the top-1 class, up to ties (`tie_tolerance`).
Detectors (NMS inside) must find the same detections (`compare_detections`); image
outputs (a style net's) the same pixels within a tolerance (`compare_images`)."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from export.errors import ParityError
from export.logs import stderr_silenced
from export.saved_model import output_keys
from export.source import DETECTION_KINDS, IMAGE_KINDS

# Tolerance on the raw outputs (logits) for the float conversions, relative to
# their scale: max |TFLite - Keras| <= ATOL * max(1, max |Keras output|).
# Float32 rounding grows with the size of the values summed, so a fixed
# absolute bound fails models with large logits (ResNet-18 after one epoch:
# 3.7e-4 on logits of ~100, a relative 4e-6).
ATOL = {"none": 1e-4, "float16": 1e-2}
DEFAULT_THRESHOLD = 0.98
_CHUNK = 64
_SHOWN = 3  # disagreeing images named in a parity error


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


def tie_tolerance(expected, step):
    """How far below the Keras top-1 score a class may be and still count as a
    top-1 for the TFLite model.

    A TFLite output quantized with scale `step` cannot order two classes whose
    Keras scores are less than one step apart: rounding to its grid can make
    them equal, and argmax then takes the lower index. No conversion can order
    scores that differ by float32 noise either (ATOL["none"] on the outputs'
    scale): an untrained MobileNetV2's logits are all 0 +- 1e-12, so its top-1
    is noise (agreement 0 at a mean error of 1e-12). The rule depends on the
    exported model only, never on the observed error, so a worse conversion
    does not earn a looser check.
    """
    return max(float(step or 0.0), ATOL["none"] * max(1.0, float(np.abs(expected).max())))


def _top1(expected, got, tolerance):
    """Per position: Keras top-1, TFLite top-1, the Keras score gap between
    them (0 when they are the same class) and whether they agree."""
    expected = np.asarray(expected, "float64")
    keras_top, tflite_top = np.argmax(expected, -1), np.argmax(got, -1)
    gap = expected.max(-1) - np.take_along_axis(expected, tflite_top[..., None], -1)[..., 0]
    return keras_top, tflite_top, gap, gap <= tolerance


def _disagreements(keras_top, tflite_top, gap, agree):
    """'k of n images disagree: image 2 (TFLite class 3, Keras class 0, Keras
    logit gap 2.1), ... and 4 more', with pixels for per-pixel outputs."""
    where = np.argwhere(~agree)
    unit = "images" if agree.ndim == 1 else "pixels"
    shown = []
    for index in map(tuple, where[:_SHOWN]):
        at = f"image {index[0]}" + (f" pixel {tuple(int(i) for i in index[1:])}"
                                    if len(index) > 1 else "")
        shown.append(f"{at} (TFLite class {tflite_top[index]}, Keras class {keras_top[index]}, "
                     f"Keras logit gap {gap[index]:.3g})")
    more = f" and {len(where) - _SHOWN} more" if len(where) > _SHOWN else ""
    return f"{len(where)} of {agree.size} {unit} disagree: {', '.join(shown)}{more}"


def compare(expected, got, quantize, threshold=DEFAULT_THRESHOLD, steps=None):
    """Parity figures per output and overall; raises ParityError on failure.

    float32/float16: max |TFLite - Keras| within ATOL times the outputs' scale,
    max(1, max |Keras|). dynamic/int8: share of positions (images, or pixels
    for per-pixel outputs) whose TFLite top-1 class is a Keras top-1 up to
    `tie_tolerance`, at least `threshold`; the mean absolute error is reported
    too. `steps`: each TFLite output's quantization scale (0 or None: float).
    """
    steps = steps or [0.0] * len(expected)
    outputs, top1 = [], []
    for e, g, step in zip(expected, got, steps):
        error = np.abs(g.astype("float64") - e)
        tie = tie_tolerance(e, step)
        top1.append(_top1(e, g, tie))
        agree = top1[-1][-1]
        outputs.append({"max_abs_error": float(error.max()), "mean_abs_error": float(error.mean()),
                        "top1_agreement": float(np.mean(agree)), "tie_tolerance": tie,
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
        if quantize in ATOL:
            worst = max(outputs, key=lambda o: o["max_abs_error"] / o["tolerance"])
            detail = (f"max abs error {worst['max_abs_error']:.3g} > {worst['tolerance']:.3g} "
                      f"(atol {ATOL[quantize]} x max(1, max |Keras output|))")
        else:
            i = min(range(len(outputs)), key=lambda i: outputs[i]["top1_agreement"])
            worst = outputs[i]
            detail = (f"{f'output {i}: ' if len(outputs) > 1 else ''}"
                      f"top-1 agreement {worst['top1_agreement']:.4f} < threshold {threshold} "
                      f"(mean abs error {worst['mean_abs_error']:.3g}, ties within "
                      f"{worst['tie_tolerance']:.3g} agree); {_disagreements(*top1[i])}")
        raise ParityError(f"TFLite ({quantize}) parity with Keras failed on "
                          f"{len(expected[0])} held-out images: {detail}.")
    return result


# A Keras detection is found again by a TFLite detection of its class overlapping it
# by at least this IoU (float conversions keep boxes to float rounding).
DETECTION_IOU = {"none": 0.99, "float16": 0.95, "dynamic": 0.5, "int8": 0.5}
# Near-ties: a detection scored within this much above the detector's score threshold
# may be found on one side only, as classification's near-tied top-1 classes may
# differ. Quantization moves scores across the threshold: the trained shapes YOLO
# (test AP50 0.99) exported int8 moved matched scores by up to 0.085 and lost or gained
# 7 detections of 167, all scored 0.25-0.48 at the threshold 0.25 (int8 AP50 0.983,
# Keras 0.985). A confident detection must still be found again.
DETECTION_SCORE_TIE = {"none": 1e-3, "float16": 0.01, "dynamic": 0.1, "int8": 0.1}


def _match(want, got, min_iou):
    """(matched Keras mask, matched TFLite mask, IoUs, score errors): Keras detections
    (boxes, scores, classes), best first, each matched to the free TFLite detection of
    its class it overlaps most."""
    want_boxes, want_scores, want_classes = want
    got_boxes, got_scores, got_classes = got
    free = np.ones(len(got_classes), bool)
    found = np.zeros(len(want_classes), bool)
    ious, errors = [], []
    for k, (box, score, cls) in enumerate(zip(want_boxes, want_scores, want_classes)):
        x1 = np.maximum(box[0], got_boxes[:, 0])
        y1 = np.maximum(box[1], got_boxes[:, 1])
        x2 = np.minimum(box[2], got_boxes[:, 2])
        y2 = np.minimum(box[3], got_boxes[:, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = (np.prod(box[2:] - box[:2]) + np.prod(got_boxes[:, 2:] - got_boxes[:, :2], axis=1)
                 - inter)
        iou = np.where(free & (got_classes == cls) & (union > 0), inter / np.maximum(union, 1e-12), 0)
        best = int(np.argmax(iou)) if len(iou) else -1
        if best >= 0 and iou[best] >= min_iou:
            free[best], found[k] = False, True
            ious.append(float(iou[best]))
            errors.append(abs(float(got_scores[best]) - float(score)))
    return found, ~free, ious, errors


def compare_detections(expected, got, quantize, threshold=DEFAULT_THRESHOLD, score_threshold=0.0):
    """Parity of a detector's outputs (DETECTION_KINDS): per image, Keras's and
    TFLite's detections matched one to one (same class, IoU >= DETECTION_IOU); the
    share of detections matched, matches over matches plus the larger of the
    unmatched counts on either side summed over images, at least `threshold`; raises
    ParityError otherwise. An unmatched detection scored below `score_threshold` (the
    detector's) + DETECTION_SCORE_TIE is a near-tie and not counted ("near_ties"
    says how many). Held-out images on which neither finds anything agree trivially
    ("detections" says how many there were to compare)."""
    min_iou, tie = DETECTION_IOU[quantize], DETECTION_SCORE_TIE[quantize]
    want_count, got_count = (np.asarray(c).astype(int) for c in (expected[3], got[3]))
    matched, total, near_ties, ious, errors, worst = 0, 0, 0, [], [], []
    for i, (n_want, n_got) in enumerate(zip(want_count, got_count)):
        want = [np.asarray(o[i][:n_want], "float64") for o in expected[:3]]
        have = [np.asarray(o[i][:n_got], "float64") for o in got[:3]]
        found, used, image_ious, image_errors = _match(want, have, min_iou)
        unmatched = [scores[~hit] for scores, hit in ((want[1], found), (have[1], used))]
        misses, extras = (int(np.sum(scores >= score_threshold + tie)) for scores in unmatched)
        near_ties += sum(len(scores) for scores in unmatched) - misses - extras
        matched, total = matched + len(image_ious), total + len(image_ious) + max(misses, extras)
        ious += image_ious
        errors += image_errors
        if misses or extras:
            worst.append(f"image {i} (Keras {n_want}, TFLite {n_got}, {len(image_ious)} matched)")
    agreement = matched / total if total else 1.0
    result = {"checked": True, "quantize": quantize, "samples": len(want_count),
              "rule": {"min_iou": min_iou, "same_class": True, "detection_agreement": threshold,
                       "near_tie_scores_below": score_threshold + tie},
              "detections": int(want_count.sum()), "detection_agreement": agreement,
              "near_ties": near_ties, "min_matched_iou": min(ious) if ious else None,
              "max_score_error": max(errors) if errors else None,
              "passed": agreement >= threshold}
    if not result["passed"]:
        more = f" and {len(worst) - _SHOWN} more" if len(worst) > _SHOWN else ""
        raise ParityError(f"TFLite ({quantize}) detections differ from Keras's on "
                          f"{len(want_count)} held-out images: {matched} of {total} matched "
                          f"(same class, IoU >= {min_iou}; unmatched ones scored below "
                          f"{score_threshold + tie:.3g} not counted), agreement {agreement:.4f} < "
                          f"{threshold}: {', '.join(worst[:_SHOWN])}{more}.")
    return result


# Images out (a style net's 0-255 pixels): tolerances in pixels. The float conversions
# must keep every pixel within half a grey level (float32: a uint8 rendering is the same
# or one level off; measured 0.001 on a style net at 64 px) or two (float16: measured
# 0.11). Quantized weights and activations move pixels by more at their worst (style_net
# at 64 px: dynamic max 8, int8 max 52), so those are held to their mean error instead
# (measured 0.44 and 9.9): a check that the picture is the same picture.
IMAGE_TOLERANCE = {"none": ("max", 0.5), "float16": ("max", 2.0), "dynamic": ("mean", 4.0),
                   "int8": ("mean", 16.0)}


def compare_images(expected, got, quantize):
    """Parity of an image output (kind "image", 0-255 pixels): the max (float
    conversions) or mean (quantized) absolute pixel difference within
    IMAGE_TOLERANCE; raises ParityError otherwise."""
    statistic, tolerance = IMAGE_TOLERANCE[quantize]
    error = np.abs(np.asarray(got[0], "float64") - expected[0])
    measured = {"max_abs_error": float(error.max()), "mean_abs_error": float(error.mean())}
    result = {"checked": True, "quantize": quantize, "samples": len(expected[0]),
              "rule": {f"{statistic}_abs_error_pixels": tolerance},
              "outputs": [{**measured, "statistic": statistic, "tolerance": tolerance}],
              "passed": measured[f"{statistic}_abs_error"] <= tolerance}
    if not result["passed"]:
        raise ParityError(f"TFLite ({quantize}) images differ from Keras's on {len(error)} held-out "
                          f"images: {statistic} abs pixel error "
                          f"{measured[f'{statistic}_abs_error']:.3g} > {tolerance} pixels "
                          f"(max {measured['max_abs_error']:.3g}, mean "
                          f"{measured['mean_abs_error']:.3g}).")
    return result


def check(flatbuffer, images, expected, quantize, threshold=DEFAULT_THRESHOLD, kinds=None,
          score_threshold=0.0):
    """`score_threshold`: a detector's (its near-tied detections are not counted)."""
    _, outputs = io_details(flatbuffer)
    got = run_tflite(flatbuffer, images)
    if kinds is not None and tuple(kinds) == DETECTION_KINDS:
        return compare_detections(expected, got, quantize, threshold, score_threshold)
    if kinds is not None and tuple(kinds) == IMAGE_KINDS:
        return compare_images(expected, got, quantize)
    steps = [details["quantization"][0] for details in outputs]
    return compare(expected, got, quantize, threshold, steps)
