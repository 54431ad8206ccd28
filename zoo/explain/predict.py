"""Predictions on image files from a .keras or a .tflite model, as PNGs and one JSON.

    predictor = load_predictor("run/best.keras")          # or "run/export/lenet5.tflite"
    report = predict_files(predictor, ["cat.png"], "out/")  # out/cat.png, out/predictions.json

A .tflite model runs in LiteRT, as a phone runs it: quantized inputs and
outputs are converted with the parameters stored in the model. Class names
and the input range come from the export's `<stem>.metadata.json` sidecar
when there is one (beside the .tflite, or in `<run>/export/` for a run's
.keras), else the model is taken to want 0-255 pixels if it normalises its
input itself (every zoo model), and classes are named by their index.
"""

import dataclasses
import glob
import json
import os

import numpy as np

from zoo.explain import pictures
from zoo.utils import write_json

KINDS = ("logits", "probabilities", "per_pixel_logits", "per_pixel_probabilities", "detections")
# An L2-normalised vector per image (zoo's `embedding`): zoo-verify reads these, zoo-predict does not.
EMBEDDINGS = "embeddings"
# A detector's four outputs in the export's metadata (export.source.DETECTION_KINDS).
DETECTION_KINDS = ("detection_boxes", "detection_scores", "detection_classes", "detection_count")


class PredictError(ValueError):
    """A model or image zoo-predict cannot read; the message says what to pass."""


@dataclasses.dataclass
class Predictor:
    """A loaded model: `outputs(images)` gives float outputs for a float batch
    in `value_range` at `input_shape` (height, width, channels); a detector's are
    a list, [boxes, scores, classes, count]."""

    path: str
    format: str  # "keras" or "tflite"
    input_shape: tuple
    value_range: tuple
    kind: str  # one of KINDS, or EMBEDDINGS
    labels: tuple | None
    outputs: callable

    def name(self, index):
        return self.labels[index] if self.labels else str(index)

    def run(self, images):
        """The outputs for a batch of 0-255 images (as `read_image` gives them),
        scaled to the model's `value_range` first."""
        low, high = self.value_range
        return self.outputs(np.asarray(images, "float32") * ((high - low) / 255.0) + low)


def metadata_sidecar(path):
    """The export metadata for `path`: `<stem>.metadata.json` beside a .tflite,
    or the first in `<dir>/export/` for a run's .keras; None when there is none."""
    stem, extension = os.path.splitext(path)
    candidates = ([f"{stem}.metadata.json"] if extension == ".tflite" else
                  sorted(glob.glob(os.path.join(os.path.dirname(path), "export", "*.metadata.json"))))
    for candidate in candidates:
        if os.path.isfile(candidate):
            with open(candidate) as f:
                return json.load(f)
    return None


def _kind(shape, softmax, normalised=False):
    """What an output of `shape` (batch first) holds; `normalised`: it comes from an
    L2 normalisation (an embedding)."""
    if normalised:
        return EMBEDDINGS
    if len(shape) == 2:
        kind = "logits"
    elif len(shape) == 4:
        kind = "per_pixel_logits"
    else:
        raise PredictError(f"zoo-predict reads classification (batch, classes) and segmentation "
                           f"(batch, height, width, classes) outputs; got shape {tuple(shape)}.")
    return kind.replace("logits", "probabilities") if softmax else kind


def _keras_predictor(path, meta):
    import keras

    from zoo.inference import inference_model

    model = inference_model(keras.saving.load_model(path, compile=False, safe_mode=True))
    detector = _detector(model)
    if detector is not None:
        def detections(images):
            return [np.asarray(o) for o in detector(images, training=False)]

        return "keras", tuple(model.inputs[0].shape[1:]), _value_range(model, meta), "detections", detections
    if len(model.outputs) != 1:
        raise PredictError(f"{path} has {len(model.outputs)} outputs; zoo-predict reads models "
                           "with one (side branches named aux* are dropped).")
    output = model.outputs[0]
    if len(model.inputs) == 1:  # called with one array, not a list of one
        model = keras.Model(model.inputs[0], output, name=model.name)
    last = output._keras_history.operation
    activation = getattr(last, "activation", None)
    kind = _kind(output.shape, getattr(activation, "__name__", "") == "softmax",
                 normalised=isinstance(last, keras.layers.UnitNormalization))

    def outputs(images):
        return np.asarray(model(images, training=False), "float32")

    return "keras", tuple(model.inputs[0].shape[1:]), _value_range(model, meta), kind, outputs


def _value_range(model, meta):
    import keras

    from zoo import layers as zl

    if meta:
        return tuple(meta["input"]["value_range"])
    normalises = any(isinstance(layer, (zl.Preprocess, keras.layers.Rescaling)) for layer in model.layers[1:3])
    return (0.0, 255.0) if normalises else (0.0, 1.0)


def _detector(model):
    """The detection model (NMS inside) of a YOLO grid model or of a saved detector,
    else None."""
    from zoo import layers as zl
    from zoo.yolo import detection_model, grid_layer

    if [type(t._keras_history.operation) for t in model.outputs] == [zl.YoloDetections] * 4:
        return model
    try:
        grid_layer(model)
    except ValueError:
        return None
    return detection_model(model)  # Darknet's thresholds, as the harness exports it


def _tflite_input(x, details):
    """A float batch as the TFLite input wants it: quantized with its parameters if it is."""
    scale, zero_point = details["quantization"]
    if scale:
        info = np.iinfo(details["dtype"])
        x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
    return x.astype(details["dtype"])


def _tflite_predictor(path, meta):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    runner = interpreter.get_signature_runner()
    (input_name, input_details), = runner.get_input_details().items()
    output_details = runner.get_output_details()
    value_range = tuple(meta["input"]["value_range"]) if meta else (0.0, 255.0)
    shape = tuple(int(d) for d in input_details["shape"][1:])
    if meta and tuple(o["kind"] for o in meta["outputs"]) == DETECTION_KINDS:
        names = sorted(output_details, key=lambda k: int(k.rsplit("_", 1)[-1]))  # output_0 ..

        def detections(images):
            results = [runner(**{input_name: _tflite_input(image[None], input_details)}) for image in images]
            return [np.concatenate([r[name] for r in results]) for name in names]

        return "tflite", shape, value_range, "detections", detections
    if len(output_details) != 1:
        raise PredictError(f"{path} has {len(output_details)} outputs; zoo-predict reads models with one "
                           "(or a detector with its export's metadata beside it).")
    (output_name, out_details), = output_details.items()
    kind = meta["outputs"][0]["kind"] if meta else _kind(out_details["shape"], softmax=False)

    def outputs(images):
        results = []
        for image in images:  # batch 1, as the model was exported
            y = runner(**{input_name: _tflite_input(image[None], input_details)})[output_name]
            scale, zero_point = out_details["quantization"]
            results.append((y.astype("float32") - zero_point) * scale if scale else y.astype("float32"))
        return np.concatenate(results)

    return "tflite", shape, value_range, kind, outputs


def load_predictor(path, labels=None, kinds=KINDS):
    """A `Predictor` for a .keras or .tflite file; `labels` (class names)
    override the sidecar's. Raises PredictError unless its output is one of `kinds`
    (zoo-verify asks for EMBEDDINGS)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PredictError(f"Model file {path!r} does not exist (give a .keras or .tflite file).")
    extension = os.path.splitext(path)[1]
    if extension not in (".keras", ".tflite"):
        raise PredictError(f"The model must be a .keras or a .tflite file; got {path!r}.")
    meta = metadata_sidecar(path)
    load = _keras_predictor if extension == ".keras" else _tflite_predictor
    format_, input_shape, value_range, kind, outputs = load(path, meta)
    if kind not in kinds:
        raise PredictError(f"{path}: this tool reads {', '.join(kinds)} outputs; the model's "
                           f"output is {kind!r}.")
    labels = tuple(labels) if labels else tuple(meta["labels"]) if meta and meta.get("labels") else None
    return Predictor(path, format_, input_shape, tuple(map(float, value_range)), kind, labels, outputs)


def read_image(path, input_shape):
    """An image file as float32 0-255 pixels (H, W, C) of `input_shape`
    (resized bilinearly; colour turned grey or grey to colour as C asks)."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = input_shape
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if height and width:
                image = image.resize((width, height), Image.BILINEAR)
            array = np.asarray(image, dtype="float32")
    except (OSError, UnidentifiedImageError) as error:
        raise PredictError(f"Cannot read image {os.fspath(path)!r}: {error}") from error
    return array[..., None] if channels == 1 else array


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _classification(predictor, image, output, top):
    probabilities = output if predictor.kind == "probabilities" else _softmax(output)
    best = np.argsort(-probabilities, kind="stable")[:top]
    entries = [{"index": int(i), "name": predictor.name(i), "probability": float(probabilities[i]),
                "score": float(output[i])} for i in best]
    return {"top": entries}, _bars_picture(image, entries)


def _bars_picture(image, entries):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 2.8), dpi=100)
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.4))
    left.imshow(pictures.to_uint8(image))
    left.axis("off")
    names = [e["name"] for e in entries][::-1]
    right.barh(names, [e["probability"] for e in entries][::-1], color="tab:blue")
    right.set_xlim(0, 1)
    right.set_xlabel("probability")
    for y, entry in enumerate(entries[::-1]):
        right.text(min(entry["probability"] + 0.02, 0.8), y, f"{entry['probability']:.3f}", va="center")
    figure.tight_layout()
    return pictures.figure_to_array(figure)


def _segmentation(predictor, image, output):
    mask = output.argmax(axis=-1)
    classes, counts = np.unique(mask, return_counts=True)
    entries = [{"index": int(c), "name": predictor.name(c), "fraction": float(n / mask.size)}
               for c, n in zip(classes, counts)]
    return {"classes": entries}, _mask_picture(image, mask, entries, output.shape[-1])


def _mask_picture(image, mask, entries, count):
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colours = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    palette = np.round(np.array([colours(i % colours.N)[:3] for i in range(count)]) * 255)
    base = pictures.to_uint8(image).astype("float32")
    blended = np.round(0.5 * base + 0.5 * palette[mask]).astype("uint8")
    figure = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    for axes, picture in zip(figure.subplots(1, 2), (base.astype("uint8"), blended)):
        axes.imshow(picture)
        axes.axis("off")
    figure.legend(handles=[Patch(color=palette[e["index"]] / 255, label=e["name"]) for e in entries],
                  loc="outside right center", fontsize="small")
    return pictures.figure_to_array(figure)


def _detections(predictor, image, output):
    boxes, scores, classes, count = output
    entries = [{"index": int(c), "name": predictor.name(int(c)), "score": float(s),
                "box": [round(float(v), 2) for v in b]}
               for b, s, c in zip(boxes[:int(count)], scores[:int(count)], classes[:int(count)])]
    return {"detections": entries}, _boxes_picture(image, entries)


def _boxes_picture(image, entries):
    """The image with each detection's box (x_min, y_min, x_max, y_max pixels of the
    model's input), its class name and score."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    colours = matplotlib.colormaps["tab10"]
    height, width = image.shape[:2]
    figure = Figure(figsize=(4.0, 4.0 * height / width), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(pictures.to_uint8(image))
    axes.axis("off")
    for entry in entries:
        (x1, y1, x2, y2), colour = entry["box"], colours(entry["index"] % 10)
        axes.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color=colour, linewidth=2))
        axes.text(x1, y1, f"{entry['name']} {entry['score']:.2f}", color="white", fontsize=8, va="bottom",
                  bbox={"facecolor": colour, "edgecolor": "none", "pad": 1})
    return pictures.figure_to_array(figure)


def _picture_names(paths):
    """One PNG name per image: its file name's stem, numbered when stems repeat."""
    names, seen = [], {}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}.png" if seen[stem] == 1 else f"{stem}_{seen[stem]}.png")
    return names


def predict_files(predictor, image_paths, output_dir, top=5):
    """Predicts each image file, writes one PNG per image (the top classes as
    bars, the segmentation mask over the image, or the detections' boxes) and `predictions.json`
    (everything) into `output_dir`; returns that JSON's content."""
    if not image_paths:
        raise PredictError("Give at least one image file to predict.")
    if not isinstance(top, int) or top < 1:
        raise PredictError(f"top must be a positive int; got {top!r}.")
    images = [read_image(p, predictor.input_shape) for p in image_paths]  # all readable first
    os.makedirs(output_dir, exist_ok=True)
    results = []
    for path, image, name in zip(image_paths, images, _picture_names(image_paths)):
        output = predictor.run(image[None])
        output = [o[0] for o in output] if isinstance(output, list) else output[0]
        if predictor.kind == "detections":
            result, picture = _detections(predictor, image, output)
        elif predictor.kind in ("logits", "probabilities"):
            result, picture = _classification(predictor, image, output, top)
        else:
            result, picture = _segmentation(predictor, image, output)
        picture_path = os.path.join(output_dir, name)
        pictures.save_png(picture_path, picture)
        results.append({"image": os.fspath(path), "picture": picture_path, **result})
    report = {"model": predictor.path, "format": predictor.format, "kind": predictor.kind,
              "input_shape": list(predictor.input_shape), "value_range": list(predictor.value_range),
              "labels": list(predictor.labels) if predictor.labels else None, "predictions": results}
    write_json(os.path.join(output_dir, "predictions.json"), report)
    return report
