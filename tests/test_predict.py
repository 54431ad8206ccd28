"""zoo-predict: the same answers from .keras and .tflite, PNGs that reload, one JSON."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import photos
from PIL import Image
from sklearn.datasets import load_digits

import export
import zoo
from zoo.explain.predict import PredictError, load_predictor, predict_files

NAMES = [f"digit {i}" for i in range(10)]


def _run(tmp_path, model, labels=None):
    """A run folder: best.keras and its float32 TFLite export with the metadata sidecar."""
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "best.keras")
    report = export.export_model(model, run / "export", formats="tflite", latency_runs=0, labels=labels)
    return run, report["artifacts"][0]["path"]


def _digit_files(folder, count=4):
    """Real digits as 24x24 grey PNG files (the model's 32x32 is reached by resizing)."""
    folder.mkdir()
    paths = []
    for i, digit in enumerate(load_digits().images[:count]):
        image = Image.fromarray(np.uint8(digit * 255 / 16)).resize((24, 24), Image.BILINEAR)
        paths.append(str(folder / f"digit{i}.png"))
        image.save(paths[-1])
    return paths


def test_keras_and_tflite_give_the_same_top5(tmp_path):
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    run, tflite_path = _run(tmp_path, model, labels=NAMES)
    images = _digit_files(tmp_path / "images")
    reports = {}
    for path in (run / "best.keras", tflite_path):
        predictor = load_predictor(path)
        assert predictor.labels == tuple(NAMES)  # the sidecar's names, for the .keras too
        assert predictor.value_range == (0.0, 255.0) and predictor.input_shape == (32, 32, 1)
        out = tmp_path / predictor.format
        reports[predictor.format] = predict_files(predictor, images, out)
        with open(out / "predictions.json") as f:
            assert json.load(f) == json.loads(json.dumps(reports[predictor.format]))
        for result in reports[predictor.format]["predictions"]:
            picture = np.asarray(Image.open(result["picture"]))
            assert picture.ndim == 3 and picture.shape[-1] == 3
    for keras_result, tflite_result in zip(reports["keras"]["predictions"], reports["tflite"]["predictions"]):
        assert [e["index"] for e in keras_result["top"]] == [e["index"] for e in tflite_result["top"]]
        assert len(keras_result["top"]) == 5
        np.testing.assert_allclose([e["probability"] for e in keras_result["top"]],
                                   [e["probability"] for e in tflite_result["top"]], atol=1e-5)
    # The probabilities are the softmax of the model's logits on the resized image.
    pixels = np.asarray(Image.open(images[0]).resize((32, 32), Image.BILINEAR), "float32")[None, ..., None]
    expected = keras.ops.softmax(model(pixels)).numpy()[0]
    first = reports["keras"]["predictions"][0]["top"]
    np.testing.assert_allclose([e["probability"] for e in first], np.sort(expected)[::-1][:5], rtol=1e-5)
    assert first[0]["name"] == NAMES[int(expected.argmax())]


def test_int8_tflite_reads_quantized_input_and_output_like_a_phone(tmp_path):
    import tensorflow as tf

    data = load_digits()
    images = tf.image.resize(data.images[..., None] * (255.0 / 16.0), (32, 32)).numpy()
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images[:1200], data.target[:1200], epochs=4, batch_size=64, verbose=0)
    model.save(tmp_path / "best.keras")
    report = export.export_model(model, tmp_path / "export", formats="tflite", quantize="int8",
                                 representative_data=images[:200], held_out=images[1200:1400],
                                 labels=NAMES, latency_runs=0)
    files = _digit_files(tmp_path / "images", count=8)
    int8 = load_predictor(report["artifacts"][0]["path"])
    assert int8.labels == tuple(NAMES)
    from ai_edge_litert.interpreter import Interpreter
    details = Interpreter(model_path=int8.path).get_signature_runner().get_input_details()
    assert next(iter(details.values()))["dtype"] == np.int8  # the quantized path is the one tested
    tops = [[r["top"][0]["index"] for r in predict_files(p, files, tmp_path / p.format)["predictions"]]
            for p in (load_predictor(tmp_path / "best.keras"), int8)]
    assert tops[0] == tops[1]
    assert np.mean(np.equal(tops[0], data.target[:8])) >= 0.75  # a trained model: real answers


def test_segmentation_masks_agree_between_keras_and_tflite(tmp_path):
    model = zoo.build("unet", input_shape=(32, 32, 3), num_classes=3, base_filters=4, depth=2)
    run, tflite_path = _run(tmp_path, model)
    image = tmp_path / "astronaut.png"
    Image.fromarray(np.uint8(photos(48)[0])).save(image)
    fractions = {}
    for path in (run / "best.keras", tflite_path):
        predictor = load_predictor(path)
        assert predictor.kind == "per_pixel_logits" and predictor.labels is None
        result = predict_files(predictor, [str(image)], tmp_path / predictor.format)["predictions"][0]
        fractions[predictor.format] = {e["index"]: e["fraction"] for e in result["classes"]}
        assert sum(fractions[predictor.format].values()) == pytest.approx(1.0)
        assert os.path.isfile(result["picture"])
    assert fractions["keras"].keys() == fractions["tflite"].keys()
    for index, fraction in fractions["keras"].items():
        assert fractions["tflite"][index] == pytest.approx(fraction, abs=2 / 32 ** 2)  # ties at most


def test_bad_inputs_name_what_is_wrong(tmp_path):
    with pytest.raises(PredictError, match="does not exist"):
        load_predictor(tmp_path / "missing.keras")
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(PredictError, match="must be a .keras or a .tflite file"):
        load_predictor(tmp_path / "model.onnx")
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    model.save(tmp_path / "m.keras")
    predictor = load_predictor(tmp_path / "m.keras")
    assert predictor.labels is None and predictor.name(3) == "3"
    (tmp_path / "not_an_image.png").write_text("hello")
    with pytest.raises(PredictError, match="Cannot read image"):
        predict_files(predictor, [str(tmp_path / "not_an_image.png")], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written when an image is unreadable


def _cli(tmp_path, *arguments):
    """zoo-predict in a subprocess: its absl flags (--model, ...) would clash with
    the training harness's, which other tests import into this process."""
    root = os.path.dirname(os.path.dirname(zoo.__file__))
    return subprocess.run([sys.executable, "-m", "zoo.explain.predict_cli", *map(str, arguments)],
                          capture_output=True, text=True, timeout=300, cwd=root)


def test_cli_writes_a_picture_per_image_and_one_json(tmp_path):
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    run, _ = _run(tmp_path, model, labels=NAMES)
    images = _digit_files(tmp_path / "images", count=2)
    done = _cli(tmp_path, f"--model={run / 'best.keras'}", *images)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(run / "predictions")) == ["digit0.png", "digit1.png", "predictions.json"]
    assert done.stdout.splitlines()[0].startswith(f"{images[0]}: digit ")


@pytest.mark.slow
def test_cli_fails_in_one_line(tmp_path):
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    model.save(tmp_path / "m.keras")
    failed = _cli(tmp_path, f"--model={tmp_path / 'm.keras'}", tmp_path / "nope.png")
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("zoo-predict: error: Cannot read image")
    assert not (tmp_path / "predictions").exists()
