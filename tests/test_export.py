"""export/: SavedModel and TFLite export, parity, Flex refusal, reports, errors.

Conversion is slow, so each model is exported once (module-scoped fixtures)
and several tests read the same result.
"""

import json
import os
import re
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_params import REFERENCE
from test_registry import CLASS_SCORES

import export
import zoo
from export import data, parity, saved_model, source, tflite
from training.data import arrays

SLOW_PARAMS = 20_000_000  # exports of models above this many params are marked slow
DIGITS_SHAPE = (32, 32, 1)
DIGITS_RANGE = (0.0, 255.0)  # zoo models take 0-255 pixels and normalise them inside


def digits(split):
    """(images, labels, class names) of the harness's digits `split`, 0-255, as export takes them."""
    return arrays("digits", image_shape=DIGITS_SHAPE, value_range=DIGITS_RANGE, split=split)


def digits_test_size():
    """Examples in the harness's fixed digits test split (export checks parity on it)."""
    from sklearn.datasets import load_digits

    from training.data import _split_indices

    return len(_split_indices(load_digits().target)["test"])


def _small_build(name):
    entry = zoo.get_entry(name)
    return zoo.build(name, input_shape=(entry.min_size, entry.min_size, entry.input_shape[-1]),
                     num_classes=10)


def _params(name):
    """Params at full size from tests/test_params.py REFERENCE (cheap at
    collection); a model without a row there is built at its small input."""
    rows = [row for row in REFERENCE if row[0] == name]
    if rows:
        _, _, total, trainable = min(rows, key=lambda row: len(row[1]))
        return total or trainable
    count = _small_build(name).count_params()
    keras.backend.clear_session()
    return count


def _registry_params():
    return [pytest.param(name, id=name, marks=[pytest.mark.slow] if _params(name) > SLOW_PARAMS else [])
            for name in CLASS_SCORES]  # the embedding's export: tests/test_similarity.py


def _files(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# --- every registered model: TFLite float32, no Flex, parity -----------------

@pytest.mark.parametrize("name", _registry_params())
def test_registered_model_exports_float32_without_flex(name, tmp_path):
    model = _small_build(name)
    result = export.export_model(model, tmp_path, formats="tflite", latency_runs=0)
    tfl = result["tflite"]
    assert tfl["flex"]["ops"] == [] and not any(op.startswith("Flex") for op in tfl["op_counts"])
    assert tfl["parity"]["passed"] and tfl["parity"]["samples"] == len(data.PHOTOS)
    assert len(tfl["parity"]["outputs"]) == len(model.outputs)
    assert max(o["max_abs_error"] for o in tfl["parity"]["outputs"]) <= 1e-4
    assert _files(tmp_path) == sorted([f"{name}.tflite", f"{name}.report.json", f"{name}.metadata.json"])


# --- a small CNN trained on digits: SavedModel, float32, int8, CLI ------------

@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """(model, .keras path) of LeNet-5 trained 8 epochs on the digits train split."""
    keras.utils.set_random_seed(0)
    name = "lenet5"
    model = zoo.build(name, input_shape=DIGITS_SHAPE, num_classes=10)
    images, labels, _ = digits("train")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(images, labels, epochs=8, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp(name) / f"{name}.keras"
    model.save(path)
    return model, path


@pytest.fixture(scope="module")
def digits_data():
    """The library takes arrays: the harness's digits splits, as a caller passes them."""
    (train, _, names), (test, _, _) = digits("train"), digits("test")
    return dict(representative_data=train, held_out=test, labels=names)


@pytest.fixture(scope="module")
def float_export(digits_model, digits_data, tmp_path_factory):
    model, path = digits_model
    out = tmp_path_factory.mktemp("float")
    return export.export_model(str(path), out, **digits_data, latency_runs=3)


@pytest.fixture(scope="module")
def int8_export(digits_model, digits_data, tmp_path_factory):
    model, path = digits_model
    out = tmp_path_factory.mktemp("int8")
    return export.export_model(str(path), out, formats="tflite", quantize="int8",
                               **digits_data, latency_runs=0)


def test_digits_model_is_trained(digits_model):
    model, _ = digits_model
    images, labels, _ = digits("test")
    accuracy = np.mean(np.argmax(model.predict(images, verbose=0), -1) == labels)
    assert accuracy > 0.9


def test_int8_keeps_top1_and_shrinks_the_file(digits_model, float_export, int8_export):
    test_images, _, _ = digits("test")
    p = int8_export["tflite"]["parity"]
    assert p["checked"] and p["passed"] and p["samples"] == len(test_images) == digits_test_size()
    assert p["outputs"][0]["top1_agreement"] >= 0.98
    assert int8_export["tflite"]["bytes"] <= 0.3 * float_export["tflite"]["bytes"]
    # Recompute the agreement independently of the report, from the written file.
    with open(int8_export["tflite"]["path"], "rb") as f:
        got = parity.run_tflite(f.read(), test_images)[0]
    expected = digits_model[0].predict(test_images, verbose=0)
    assert np.mean(np.argmax(got, -1) == np.argmax(expected, -1)) >= 0.98


def test_int8_io_and_quantization_params_recorded(digits_model, int8_export):
    meta = int8_export["metadata"]
    assert meta["input"]["dtype"] == "int8" and meta["outputs"][0]["dtype"] == "int8"
    q = meta["input"]["quantization"]
    # Inputs in [0, 255] span the int8 range: scale ~ 1, zero point -128.
    assert q["zero_point"] == -128 and abs(q["scale"] - 1.0) < 1e-2
    assert meta["outputs"][0]["quantization"]["scale"] > 0
    # Top-1 ties are judged on the int8 output's grid: one step is its scale.
    tie = int8_export["tflite"]["parity"]["outputs"][0]["tie_tolerance"]
    assert tie == meta["outputs"][0]["quantization"]["scale"]
    assert int8_export["tflite"]["representative"] == {"data": "array", "steps": 100}
    with open(int8_export["metadata_path"]) as f:
        assert json.load(f) == meta
    convs = sum(isinstance(layer, keras.layers.Conv2D) for layer in digits_model[0].layers)
    assert int8_export["tflite"]["op_counts"]["CONV_2D"] == convs


def test_uint8_io(digits_model, digits_data, tmp_path):
    _, path = digits_model
    result = export.export_model(str(path), tmp_path, formats="tflite", quantize="int8",
                                 quantized_io="uint8", **digits_data,
                                 representative_steps=20, latency_runs=0)
    assert result["metadata"]["input"]["dtype"] == "uint8"
    assert result["metadata"]["input"]["quantization"]["zero_point"] == 0
    assert result["tflite"]["parity"]["outputs"][0]["top1_agreement"] >= 0.98


def test_float32_report_and_metadata(float_export):
    tfl = float_export["tflite"]
    assert tfl["parity"]["passed"] and tfl["parity"]["outputs"][0]["max_abs_error"] <= 1e-4
    assert tfl["parity"]["samples"] == digits_test_size() and tfl["ops_total"] == sum(tfl["op_counts"].values())
    latency = float_export["latency_ms"]
    assert latency["tflite"] > 0 and latency["keras"] > 0 and latency["tflite_delegate"] == "XNNPACK"
    with open(float_export["report_path"]) as f:
        on_disk = json.load(f)
    assert on_disk["tflite"]["bytes"] == os.path.getsize(tfl["path"])
    meta = float_export["metadata"]
    assert meta["labels"] == [str(d) for d in range(10)]
    assert meta["input"]["shape"] == [1, *DIGITS_SHAPE] and meta["input"]["value_range"] == [0.0, 255.0]
    assert meta["input"]["normalization"] == {"scale": 1.0, "offset": 0.0,
                                              "formula": "input = pixel * scale + offset (pixel in 0..255)"}
    assert meta["outputs"][0]["kind"] == "logits" and meta["zoo_version"] == zoo.__version__


def test_saved_model_round_trip_gives_equal_outputs(digits_model, float_export):
    model, _ = digits_model
    images, _, _ = digits("test")
    loaded = tf.saved_model.load(float_export["saved_model"]["path"])
    function = loaded.signatures["serving_default"]
    assert list(function.structured_input_signature[1]) == ["images"]
    got = function(images=tf.constant(images))["output_0"].numpy()
    np.testing.assert_allclose(got, model.predict(images, verbose=0), rtol=0, atol=1e-6)
    doc_path = os.path.join(float_export["saved_model"]["path"], saved_model.DOC_FILE)
    with open(doc_path) as f:
        doc = json.load(f)
    assert doc["input"]["shape"] == [1, *DIGITS_SHAPE] and doc["input"]["dtype"] == "float32"


def test_cli_end_to_end(digits_model, tmp_path):
    _, path = digits_model
    out = tmp_path / "cli"
    run = subprocess.run(
        [sys.executable, "-m", "export", f"--model={path}", f"--output_dir={out}",
         "--quantize=float16", "--representative_data=digits", "--latency_runs=2",
         "--labels=" + ",".join("zero one two three four five six seven eight nine".split())],
        capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(export.__file__)),
        timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"parity (float16, {digits_test_size()} images)" in run.stdout
    stem = f"{path.stem}_float16"
    assert _files(out) == sorted([f"{path.stem}_saved_model", f"{stem}.tflite",
                                  f"{stem}.report.json", f"{stem}.metadata.json"])
    report = json.loads((out / f"{stem}.report.json").read_text())
    assert report["tflite"]["parity"]["passed"] and report["tflite"]["parity"]["atol"] == 1e-2
    assert json.loads((out / f"{stem}.metadata.json").read_text())["labels"][9] == "nine"


def test_dynamic_range_quantization(digits_model, digits_data, tmp_path):
    _, path = digits_model
    result = export.export_model(str(path), tmp_path, formats="tflite", quantize="dynamic",
                                 **digits_data, latency_runs=0)
    p = result["tflite"]["parity"]
    assert p["passed"] and p["top1_threshold"] == 0.98 and p["outputs"][0]["mean_abs_error"] < 0.5
    assert result["metadata"]["input"]["dtype"] == "float32"


# --- Flex ops ------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="zoo_tests")
class MatrixInverse(keras.layers.Layer):
    """tf.linalg.inv has no TFLite builtin: it converts to the Flex op MatrixInverse."""

    def call(self, x):
        return tf.linalg.inv(x + 8.0 * tf.eye(x.shape[-1]))


def _flex_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Reshape((8, 8), name="square")(inputs)
    x = MatrixInverse(name="inverse")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="predictions")(x), name="flexy")


def test_flex_ops_refused_naming_the_layer(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(export.FlexOpsError,
                       match=r"FlexMatrixInverse from layer type\(s\) MatrixInverse \('inverse'\).*--allow_flex"):
        export.export_model(_flex_model(), out, latency_runs=0)
    assert not out.exists()


def test_allow_flex_lets_it_through(tmp_path):
    result = export.export_model(_flex_model(), tmp_path, formats="tflite", allow_flex=True,
                                 latency_runs=0)
    flex = result["tflite"]["flex"]
    assert flex["ops"] == ["FlexMatrixInverse"] and flex["allowed"]
    assert flex["layers"] == [{"type": "MatrixInverse", "name": "inverse"}]
    assert result["tflite"]["parity"]["checked"] is False
    assert os.path.getsize(result["tflite"]["path"]) == result["tflite"]["bytes"]


# --- multi-output models -------------------------------------------------------

def test_side_branches_dropped_per_pixel_and_feature_outputs_kept(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    seg = keras.layers.Conv2D(4, 1, name="segmentation")(x)
    feat = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="features")(x)
    aux = keras.layers.Dense(5, name="aux1_predictions")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, [seg, feat, aux], name="multi")
    result = export.export_model(model, tmp_path, latency_runs=0)
    outputs = result["metadata"]["outputs"]
    assert [o["name"] for o in outputs] == ["segmentation", "features"]
    assert [o["kind"] for o in outputs] == ["per_pixel_logits", "features"]
    assert [o["shape"] for o in outputs] == [[1, 16, 16, 4], [1, 8, 8, 8]]
    assert result["tflite"]["parity"]["passed"] and len(result["tflite"]["parity"]["outputs"]) == 2
    _, details = parity.io_details(open(result["tflite"]["path"], "rb").read())
    assert [tuple(d["shape"]) for d in details] == [(1, 16, 16, 4), (1, 8, 8, 8)]
    images = data.photos((16, 16, 3))
    got = saved_model.run_saved_model(result["saved_model"]["path"], images)
    for g, e in zip(got, model.predict(images, verbose=0)[:2]):
        np.testing.assert_allclose(g, e, atol=1e-6)


def test_mixed_precision_model_exports_in_float32_without_flex(tmp_path):
    """The harness may train under mixed_bfloat16; TFLite has bf16 ops only as Flex."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = zoo.build("lenet5")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    result = export.export_model(model, tmp_path, formats="tflite", latency_runs=0)
    assert result["tflite"]["flex"]["ops"] == []
    assert result["tflite"]["parity"]["passed"]


def test_zoo_model_side_branches_are_not_exported(tmp_path):
    model = zoo.build("googlenet", input_shape=(96, 96, 3), num_classes=10, aux_logits=True)
    assert len(model.outputs) == 3
    result = export.export_model(model, tmp_path, formats="tflite", latency_runs=0)
    assert [o["name"] for o in result["metadata"]["outputs"]] == ["predictions"]
    assert result["tflite"]["parity"]["passed"]
    _, details = parity.io_details(open(result["tflite"]["path"], "rb").read())
    assert [tuple(d["shape"]) for d in details] == [(1, 10)]


# --- bad input, atomic writes ----------------------------------------------------

def _tiny_model(name="tiny"):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="predictions")(x), name=name)


def _segmentation_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(4, 1, name="segmentation")(x), name="seg")


@pytest.mark.parametrize("build, kwargs, message", [
    (_tiny_model, dict(labels=["a", "b"]),
     r"2 labels were given but tiny's output 'predictions' has 3 classes; pass 3 labels"),
    (_segmentation_model, dict(labels=["a", "b", "c"]),
     r"3 labels were given but seg's output 'segmentation' has 4 classes; pass 4 labels"),
], ids=["given", "per_pixel"])
def test_label_count_must_match_the_classes(build, kwargs, message, tmp_path, monkeypatch):
    # Checked before the model runs on anything, let alone is converted.
    monkeypatch.setattr(export.pipeline, "keras_outputs",
                        lambda *a: pytest.fail("the labels were checked too late"))
    out = tmp_path / "out"
    with pytest.raises(export.ExportError, match=message):
        export.export_model(build(), out, latency_runs=0, **kwargs)
    assert not out.exists()


@pytest.mark.parametrize("content, message", [
    (None, r"does not exist"),
    (b"this is not a zip archive", r"not a valid \.keras archive"),
    ("truncated", r"not a valid \.keras archive"),
    ("wrong zip", r"Could not load .* as a Keras model"),
])
def test_missing_or_corrupt_keras_file(content, message, tmp_path):
    path = tmp_path / "model.keras"
    if content == "truncated" or content == "wrong zip":
        _tiny_model().save(path)
        whole = path.read_bytes()
        if content == "truncated":
            path.write_bytes(whole[: len(whole) // 2])
        else:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("config.json", "{not json")
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    with pytest.raises(export.ExportError, match=message):
        export.export_model(str(path), out)
    assert not out.exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="resnet05"), r"Unknown model name 'resnet05'.*resnet50"),
    (dict(formats="onnx"), r"formats must be a comma list of saved_model, tflite; got 'onnx'"),
    (dict(quantize="int4"), r"quantize must be one of none, float16, dynamic, int8"),
    (dict(quantize="int8", formats="tflite"), r"int8 quantization needs representative data"),
    (dict(quantize="int8", quantized_io="int16", representative_data=np.zeros((4, 8, 8, 1))),
     r"quantized_io must be one of int8, uint8; got 'int16'"),
    (dict(quantize="float16", formats="saved_model"), r"applies to TFLite; add tflite to formats"),
    (dict(representative_data="digits"),
     r"representative_data must be an array of images; got the name 'digits'. Dataset names "
     r"are resolved by the command line"),
    (dict(parity_threshold=1.5), r"parity_threshold must be in \(0, 1\]"),
    (dict(input_shape=(16, 16, 3)), r"does not fit tiny's input \(8, 8, 1\)"),
])
def test_bad_arguments_one_clear_error(kwargs, message, tmp_path):
    kwargs = {"model": _tiny_model(), **kwargs}
    out = tmp_path / "out"
    with pytest.raises(export.ExportError, match=message):
        export.export_model(kwargs.pop("model"), out, latency_runs=0, **kwargs)
    assert not out.exists()


def test_failed_parity_keeps_the_existing_output_a_passing_one_replaces_it(tmp_path, monkeypatch):
    export.export_model(_tiny_model(), tmp_path, latency_runs=0)
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path) if "." in name}
    assert sorted(before) == ["tiny.metadata.json", "tiny.report.json", "tiny.tflite"]
    with monkeypatch.context() as patch:
        patch.setitem(parity.ATOL, "none", -1.0)  # no conversion can pass this
        with pytest.raises(export.ParityError, match=r"TFLite \(none\) parity with Keras failed"):
            export.export_model(_tiny_model(), tmp_path, latency_runs=0)
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert _files(tmp_path) == sorted([*before, "tiny_saved_model"])  # no staging left over
    # A passing export (other weights) replaces every file and the SavedModel directory.
    keras.utils.set_random_seed(1)
    model = _tiny_model()
    export.export_model(model, tmp_path, latency_runs=0)
    assert _files(tmp_path) == sorted([*before, "tiny_saved_model"])
    assert (tmp_path / "tiny.tflite").read_bytes() != before["tiny.tflite"]
    images = data.photos((8, 8, 1))
    got = saved_model.run_saved_model(str(tmp_path / "tiny_saved_model"), images)[0]
    np.testing.assert_allclose(got, model.predict(images, verbose=0), atol=1e-6)


def test_cli_bad_input_exits_non_zero_without_output(tmp_path):
    # A subprocess: the CLI's absl flags (--model, ...) would clash with the
    # training harness's, which other tests import into this process.
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "export", f"--model={tmp_path / 'missing.keras'}",
                          f"--output_dir={out}"], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(export.__file__)))
    assert run.returncode != 0
    assert re.search(r"zoo-export: error: Model file .*does not exist", run.stderr)
    assert not out.exists()


def test_cli_unknown_representative_data_is_one_error_line(tmp_path):
    from harness_util import REPO, env
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "export", "--model=lenet5", f"--output_dir={out}",
                          "--representative_data=imagenet", "--latency_runs=0"],
                         capture_output=True, text=True, timeout=300, cwd=REPO, env=env())
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert re.search(r"zoo-export: error: --representative_data=imagenet: .*'imagenet' is not "
                     r"digits, shapes", run.stderr), run.stderr[-2000:]
    assert not out.exists()


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_output_dir_that_is_a_file_refused_up_front(where, tmp_path, monkeypatch):
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    out = taken if where == "file" else taken / "out"
    # Checked before any work: loading the model would already be too late.
    monkeypatch.setattr(export.pipeline.source, "load_model",
                        lambda *a, **k: pytest.fail("the model was loaded before the check"))
    message = (r"output_dir '.*taken' is an existing file" if where == "file" else
               r"output_dir '.*taken/out' cannot be created: '.*taken' is a file")
    with pytest.raises(export.ExportError, match=message):
        export.export_model(_tiny_model(), out, latency_runs=0)
    assert taken.read_text() == "not a directory"


def test_cli_output_dir_that_is_a_file_is_one_error_line(tmp_path):
    from harness_util import REPO, env
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    run = subprocess.run([sys.executable, "-m", "export", "--model=lenet5",
                          f"--output_dir={taken}"], capture_output=True, text=True, timeout=300,
                         cwd=REPO, env=env())
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert re.search(r"zoo-export: error: output_dir '.*taken' is an existing file", run.stderr)
    assert taken.read_text() == "not a directory"


def test_op_counts_reads_the_flatbuffer():
    # A float conversion of a tiny model: one conv, one mean, one dense.
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        saved_model.export_saved_model(_tiny_model(), d + "/sm", {})
        counts = tflite.op_counts(tflite.convert(d + "/sm"))
    assert counts == {"CONV_2D": 1, "FULLY_CONNECTED": 1, "MEAN": 1}


def test_saved_model_with_unknown_size_needs_input_shape(tmp_path):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    path = tmp_path / "anysize.keras"
    keras.Model(inputs, keras.layers.Dense(3, name="predictions")(x), name="anysize").save(path)
    with pytest.raises(export.ExportError, match=r"unknown dimensions; pass input_shape"):
        export.export_model(str(path), tmp_path / "none")
    result = export.export_model(str(path), tmp_path / "out", formats="tflite", input_shape=(12, 12, 3),
                                 latency_runs=0)
    assert result["metadata"]["input"]["shape"] == [1, 12, 12, 3] and result["tflite"]["parity"]["passed"]
    assert not (tmp_path / "none").exists()


def test_float_parity_tolerance_scales_with_the_logits():
    """Float32 rounding grows with the values: 4e-4 on logits of ~100 is a relative 4e-6."""
    rng = np.random.default_rng(0)
    small = rng.normal(size=(8, 5))
    large = 100 * small / np.abs(small).max()
    assert parity.compare([large], [large + 4e-4], "none")["passed"]
    with pytest.raises(export.ParityError, match=r"max abs error 0.0004 > 0.0001 \(atol 0.0001 x"):
        parity.compare([small / np.abs(small).max()], [small / np.abs(small).max() + 4e-4], "none")
    with pytest.raises(export.ParityError):
        parity.compare([large], [large + 2e-2], "none")


# --- top-1 parity of quantized models: ties, near-ties, real disagreement -----

def _logits(n=8, classes=10):
    """Keras-like logits with a clear top-1 (class 0, 2 above the rest)."""
    rng = np.random.default_rng(0)
    e = rng.uniform(-1, 0, size=(n, classes))
    e[:, 0] = 2.0
    return e


@pytest.mark.parametrize("quantize", ["int8", "dynamic"])
def test_top1_parity_counts_tied_logits_as_agreeing(quantize):
    """An untrained MobileNetV2's logits are all equal: any class is a top-1."""
    expected = np.zeros((8, 10), "float32")
    got = expected.copy()
    got[np.arange(8), np.arange(8)] = 1e-12  # TFLite breaks each tie its own way
    result = parity.compare([expected], [got], quantize)
    assert result["passed"] and result["outputs"][0]["top1_agreement"] == 1.0


def test_top1_parity_near_tie_within_one_output_step():
    expected = _logits()
    expected[3, 4] = 1.97  # 0.03 below the top-1 of image 3
    got = expected.copy()
    got[3, 4] = 2.01  # TFLite ranks class 4 first
    # Within one step (0.05) of the int8 output grid: the TFLite model cannot order them.
    result = parity.compare([expected], [got], "int8", threshold=1.0, steps=[0.05])
    assert result["passed"] and result["outputs"][0]["tie_tolerance"] == 0.05
    # A finer grid (0.01) could: then it is a real disagreement.
    with pytest.raises(export.ParityError, match=r"1 of 8 images disagree: image 3 \(TFLite "
                                                 r"class 4, Keras class 0, Keras logit gap 0.03\)"):
        parity.compare([expected], [got], "int8", threshold=1.0, steps=[0.01])


def test_top1_parity_failure_names_the_images_classes_and_gaps():
    expected = _logits()
    got = expected.copy()
    for image, cls in [(2, 3), (5, 7), (6, 1), (7, 9)]:
        got[image, cls] = 3.0
    with pytest.raises(export.ParityError,
                       match=r"top-1 agreement 0.5000 < threshold 0.98 .*4 of 8 images disagree: "
                             r"image 2 \(TFLite class 3, Keras class 0, Keras logit gap 2\.\d+\), "
                             r"image 5 \(TFLite class 7, Keras class 0, Keras logit gap 2\.\d+\), "
                             r"image 6 \(TFLite class 1, .*\) and 1 more\.$"):
        parity.compare([expected], [got], "int8")


def test_top1_parity_per_pixel_names_the_pixel():
    expected = np.zeros((2, 4, 4, 3), "float32")
    expected[..., 0] = 1.0
    got = expected.copy()
    got[1, 2, 3, 2] = 2.0
    with pytest.raises(export.ParityError, match=r"1 of 32 pixels disagree: image 1 pixel "
                                                 r"\(2, 3\) \(TFLite class 2, Keras class 0, "
                                                 r"Keras logit gap 1\)"):
        parity.compare([expected], [got], "int8", threshold=1.0)
    got[1, 2, 3, 2] = 1.0  # now a tie
    assert parity.compare([expected], [got], "int8", threshold=1.0)["passed"]


def test_output_kinds_are_told_by_shape():
    inputs = keras.Input((8, 8, 3))
    pixels = keras.layers.Conv2D(3, 1, name="pixels")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(pixels)
    probabilities = keras.layers.Dense(4, activation="softmax")(pooled)
    assert source.output_kinds(keras.Model(inputs, pixels)) == ["per_pixel_logits"]
    assert source.output_kinds(keras.Model(inputs, probabilities)) == ["probabilities"]
    assert source.output_kinds(keras.Model(inputs, [pooled, pixels])) == [
        "features", "per_pixel_logits"]
    unit = keras.layers.UnitNormalization()(pooled)
    assert source.output_kinds(keras.Model(inputs, unit)) == ["embeddings"]


def test_the_export_library_does_not_import_the_harness():
    # training imports export (it exports its runs); the reverse would be a cycle.
    code = ("import sys, export; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'training'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=os.path.dirname(os.path.dirname(export.__file__)))
    assert run.returncode == 0 and run.stdout.strip() == "[]", (run.stdout, run.stderr[-2000:])
