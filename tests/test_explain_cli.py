"""zoo-explain and `zoo-train --explain`: a run's pictures, which reload to what zoo.explain draws."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl import flags
from PIL import Image
from sklearn.datasets import load_digits

import zoo
from training.errors import HarnessError
from zoo import explain
from zoo.explain import parts
from zoo.explain.runs import ExplainError, explain_run

from harness_util import REPO, env, parse, read_json, run

CLASSES = ("0", "1", "2")  # a three-digit run: a tenth of the time, the same pictures


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One epoch of the default job on three digits, with --explain=all (the harness's part)."""
    model_dir = tmp_path_factory.mktemp("run")
    result = run("--epochs=1", f"--classes={','.join(CLASSES)}", f"--model_dir={model_dir}",
                 "--explain=all")
    keras.backend.clear_session()
    return model_dir, result


def reload(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_harness_explain_draws_every_part_of_the_test_split(tiny_run):
    model_dir, result = tiny_run
    report = read_json(model_dir / "explain" / "explain.json")
    assert result["explain"] == report
    assert list(report["parts"]) == list(parts.PARTS)  # a classifier: every part applies
    assert report["kind"] == "logits" and report["images"] == result["eval"]["examples"]
    for name, part in report["parts"].items():
        picture = reload(part["picture"])
        assert picture.ndim == 3 and picture.shape[0] > 30 and os.path.getsize(part["picture"]) < 200_000
    tsne = report["parts"]["tsne"]
    assert tsne["layer"] == "f6" and tsne["trustworthiness"] > 0.9
    patches = report["parts"]["patches"]  # LeNet's last features_only map, 16 units
    assert patches["layer"] == "s4" and patches["receptive_field"]["size"] == [16, 16]
    assert len(set(report["parts"]["gradcam"]["examples"])) == 8  # --examples' default
    assert "explained: filters, patches" in run_summary(result)


def run_summary(result):
    from training.train import summary

    return summary(result)


def _cli(*arguments):
    return subprocess.run([sys.executable, "-m", "zoo.explain.explain_cli", *arguments],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env())


@pytest.mark.slow  # a subprocess that imports TensorFlow: 20-35 s on 2 busy cores
def test_cli_pictures_reload_to_what_zoo_explain_draws(tiny_run):
    """zoo-explain in a subprocess (its absl flags would clash with the harness's in
    this process): filters and Grad-CAM equal zoo.explain's arrays, pixel for pixel."""
    model_dir, _ = tiny_run
    out = model_dir / "cli"
    done = _cli(f"--model_dir={model_dir}", "--what=filters,gradcam", f"--output_dir={out}",
                "--examples=3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [f"filters: {out / 'filters.png'}", f"gradcam: {out / 'gradcam.png'}"]
    assert sorted(os.listdir(out)) == ["explain.json", "filters.png", "gradcam.png"]
    report = read_json(out / "explain.json")
    model = keras.saving.load_model(model_dir / "best.keras", safe_mode=True)

    scale = report["parts"]["filters"]["scale"]
    filters = reload(out / "filters.png")
    np.testing.assert_array_equal(filters[::scale, ::scale], explain.filters(model))
    np.testing.assert_array_equal(filters, explain.filters(model).repeat(scale, 0).repeat(scale, 1))

    # The Grad-CAM grid: the examples (one per class, the first of each in the test
    # split) above their maps for the predicted class.
    from training import data

    source = data.load("digits", image_shape=(32, 32, 1), classes=(0, 1, 2))
    images, labels = data.split_arrays(source.cached["test"], value_range=(0.0, 255.0))
    picked = [int(np.flatnonzero(labels == c)[0]) for c in range(3)]
    assert report["parts"]["gradcam"]["examples"] == picked
    cam = reload(out / "gradcam.png")[::report["parts"]["gradcam"]["scale"]]
    cam = cam[:, ::report["parts"]["gradcam"]["scale"]]
    for column, index in enumerate(picked):
        image = images[index]
        predicted = int(np.argmax(model(image[None])))
        assert report["parts"]["gradcam"]["classes"][column] == CLASSES[predicted]
        left = column * (32 + 2)
        np.testing.assert_array_equal(cam[:32, left:left + 32], explain.to_uint8(image))
        expected = explain.overlay(image, explain.grad_cam(model, image, predicted))
        np.testing.assert_array_equal(cam[34:66, left:left + 32], expected)


@pytest.mark.slow  # two subprocesses that import TensorFlow
def test_cli_fails_in_one_line_naming_the_value(tiny_run, tmp_path):
    failed = _cli(f"--model_dir={tiny_run[0]}", str(tmp_path / "seven.png"))  # files may follow
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith(
        f"zoo-explain: error: Cannot read image '{tmp_path / 'seven.png'}'")
    # (a missing run folder takes the same path: its message is checked in-process below)
    failed = _cli(f"--model_dir={tmp_path}", "--what=filters,gradcan")
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert "--what: unknown part 'gradcan'. Did you mean gradcam? Accepted: filters" in failed.stderr


def _digit_files(folder, count):
    folder.mkdir()
    paths = []
    for i, digit in enumerate(load_digits().images[:count]):
        paths.append(str(folder / f"digit{i}.png"))
        Image.fromarray(np.uint8(digit * 255 / 16)).resize((32, 32), Image.BILINEAR).save(paths[-1])
    return paths


def test_explain_run_on_image_files(tiny_run, tmp_path):
    model_dir, _ = tiny_run
    files = _digit_files(tmp_path / "images", 4)
    report = explain_run(model_dir, images=files, what=("saliency", "neighbours", "occlusion"),
                         output_dir=tmp_path / "out", examples=2)
    assert report["images"] == 4 and list(report["parts"]) == ["saliency", "neighbours", "occlusion"]
    neighbours = report["parts"]["neighbours"]
    assert neighbours["queries"] == [0, 1] and sorted(neighbours["neighbours"][0]) == [2, 3]
    model = keras.saving.load_model(model_dir / "best.keras", safe_mode=True)
    image = np.asarray(Image.open(files[0]), "float32")[..., None]
    saliency = reload(tmp_path / "out" / "saliency.png")[::3, ::3]  # 32 px tiles at scale 3
    predicted = int(np.argmax(model(image[None])))
    expected = explain.to_uint8(explain.normalise(explain.saliency(model, image, predicted)), (0, 1))
    np.testing.assert_array_equal(saliency[34:66, :32], expected)


def test_bad_runs_parts_and_images_get_one_clear_error(tiny_run, tmp_path):
    model_dir, _ = tiny_run
    with pytest.raises(ExplainError, match="is not a directory; give a zoo-train run folder"):
        explain_run(tmp_path / "nope")
    with pytest.raises(ExplainError, match="has no best.keras and no flags.txt"):
        explain_run(tmp_path)
    with pytest.raises(ValueError, match="unknown part 'gradcan'. Did you mean gradcam.*Accepted: filters"):
        explain_run(model_dir, what=("gradcan",))
    (tmp_path / "bad.png").write_text("not a picture")
    with pytest.raises(ExplainError, match="Cannot read image"):
        explain_run(model_dir, images=[str(tmp_path / "bad.png")], output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="part 'tsne' needs at least 16 images; got 2"):
        explain_run(model_dir, images=_digit_files(tmp_path / "two", 2), what=("tsne",))
    # "all" is what applies: two images have no t-SNE, but neighbours
    report = explain_run(model_dir, images=_digit_files(tmp_path / "pair", 2), output_dir=tmp_path / "all")
    assert list(report["parts"]) == [p for p in parts.PARTS if p != "tsne"]
    with pytest.raises(ValueError, match="'tsne' does not apply to a model whose output is "
                       "per_pixel_logits; for it: filters, patches, occlusion"):
        parts.check_parts(["tsne"], "per_pixel_logits")


def test_segmentation_maps_are_drawn_per_predicted_class(tmp_path):
    """A U-Net: one row of maps per class, each over the pixels predicted to be it."""
    from conftest import photos

    model = zoo.build("unet", input_shape=(32, 32, 3), num_classes=3, base_filters=4, depth=2)
    images = photos(32)[:2]
    report = parts.explain_model(model, images, tmp_path, what=("gradcam", "filters", "patches"))
    assert report["kind"] == "per_pixel_logits"
    # the decoder's upsampled maps have no receptive field: the deepest encoder map that fits
    assert report["parts"]["patches"]["layer"] == "bottleneck_conv2_relu"
    gradcam = report["parts"]["gradcam"]
    assert gradcam["rows"] == ["input", "0", "1", "2"]
    picture = reload(gradcam["picture"])[::gradcam["scale"], ::gradcam["scale"]]
    masks = np.asarray(model(images)).argmax(-1)
    for row in range(3):
        tile = picture[(row + 1) * 34:(row + 1) * 34 + 32, :32]
        if (masks[0] == row).any():
            expected = explain.overlay(images[0], explain.grad_cam(model, images[0], row,
                                                                    mask=masks[0] == row))
            np.testing.assert_array_equal(tile, expected)
        else:
            assert (tile == 255).all()
    with pytest.raises(ValueError, match="'tsne' does not apply"):
        parts.explain_model(model, images, tmp_path, what=("tsne",))


def test_harness_refuses_bad_explain_values_before_training(tmp_path):
    with pytest.raises(flags.IllegalFlagValueError, match="--explain: unknown part 'all_of_it'"):
        parse("--explain=all_of_it")
    with pytest.raises(HarnessError, match="--explain: part 'tsne' does not apply to a model "
                       "whose output is per_pixel_logits"):
        run("--model=unet", "--dataset=shapes", "--image_size=32", "--explain=tsne",
            f"--model_dir={tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()


def test_console_script_points_at_the_cli():
    import configparser

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    scripts = dict(line.split(" = ") for line in
                   config["options.entry_points"]["console_scripts"].strip().splitlines())
    module, function = scripts["zoo-explain"].split(":")
    assert module == "zoo.explain.explain_cli" and function == "run"


def test_a_run_config_reads_back_from_its_flagfile_lines():
    """zoo-explain reads a run through flags.txt: every field survives the round trip."""
    from training.config import RunConfig

    config = RunConfig(model="resnet18", model_args=("width=2",), classes=("0", "3"), image_size=64,
                       augment=(), learning_rate=0.25, deterministic=True, download=False,
                       data_dir="/data", explain=("filters", "gradcam"), export=())
    assert RunConfig.from_flag_lines(config.flagfile_lines()) == config
    with pytest.raises(ValueError, match="'--colour=red': 'colour' is not a flag of a run"):
        RunConfig.from_flag_lines(["--colour=red"])


def test_an_embedding_gets_its_unit_pictures_and_no_class_maps(tmp_path):
    """The similarity task's output is the embedding: neighbours and t-SNE compare it
    itself, and there is no class to draw a map of."""
    model = zoo.build("embedding", input_shape=(32, 32, 1), embedding_dim=16)
    data = load_digits()
    images = np.stack([np.asarray(Image.fromarray(np.uint8(d * 255 / 16)).resize((32, 32)), "float32")
                       for d in data.images[:40]])[..., None]
    report = parts.explain_model(model, images, tmp_path, labels=data.target[:40], kind="embeddings")
    assert list(report["parts"]) == ["filters", "patches", "neighbours", "tsne"]
    assert report["parts"]["tsne"]["layer"] == model.outputs[0]._keras_history.operation.name
    queries, found = report["parts"]["neighbours"]["queries"], report["parts"]["neighbours"]["neighbours"]
    features = np.asarray(model(images))
    for query, neighbours in zip(queries, found):
        others = np.setdiff1d(np.arange(40), queries)
        distances = np.linalg.norm(features[others] - features[query], axis=-1)
        assert neighbours == others[np.argsort(distances, kind="stable")[:5]].tolist()
    with pytest.raises(ValueError, match="'gradcam' does not apply to a model whose output is embeddings"):
        parts.explain_model(model, images, tmp_path, what=("gradcam",), kind="embeddings")


def test_every_part_draws_under_a_mixed_precision_policy(tmp_path):
    """A run trained under mixed_bfloat16 (auto picks it where it is faster) explains
    itself with that policy on: features reach numpy and scikit-learn as float32."""
    data = load_digits()
    images = np.stack([np.asarray(Image.fromarray(np.uint8(d * 255 / 16)).resize((32, 32)), "float32")
                       for d in data.images[:40]])[..., None]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = zoo.build("lenet5_relu", num_classes=10)
        report = parts.explain_model(model, images, tmp_path, labels=data.target[:40])
        features = explain.activations(model, "f6", images[:2])
        cam = explain.grad_cam(model, images[0], 3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert list(report["parts"]) == list(parts.PARTS)
    assert features.dtype == np.float32 and cam.dtype == np.float32
