"""The style task: the perceptual loss against numpy, the harness end to end on tiny data."""

import keras
import numpy as np
import pytest
from absl import flags
from conftest import photos
from skimage import data as skdata
from skimage import io as skio
from skimage.transform import resize

from training import data
from training.errors import HarnessError
from training.tasks import style

from harness_util import config, parse, read_json, run

CONTENT, STYLE = "block1_conv2_relu", ("block1_conv1_relu", "block2_conv1_relu")


def _gram(a):  # per position, as zoo.synthesis compares Gram matrices of any size
    flat = a.reshape(-1, a.shape[-1]).astype("float64")
    return flat.T @ flat / len(flat)


def test_perceptual_loss_is_the_normalised_course_costs():
    style_image = photos(32)[1]
    loss = style.PerceptualLoss(style_image, content_layer=CONTENT, style_layers=STYLE,
                                style_weight=3.0, tv_weight=2.0, weights=None)
    targets, outputs = photos(32)[2:], photos(32)[:2][:, ::-1]
    costs = loss.costs(keras.ops.convert_to_tensor(targets), keras.ops.convert_to_tensor(outputs))
    features = {k: keras.ops.convert_to_numpy(v).astype("float64") for k, v in
                loss.extractor(np.concatenate([targets, outputs, style_image[None]])).items()}
    for i in range(2):
        a_C, a_G = features[CONTENT][i], features[CONTENT][2 + i]
        content = 0.5 * np.sum((a_C - a_G) ** 2) / (0.5 * np.sum(a_C ** 2))
        style_cost = 0.0
        for layer in STYLE:
            g_S, g_G = _gram(features[layer][4]), _gram(features[layer][2 + i])
            style_cost += np.sum((g_S - g_G) ** 2) / (len(STYLE) * np.sum(g_S ** 2))
        x = outputs[i].astype("float64") / 255
        down, right = x[1:, :-1] - x[:-1, :-1], x[:-1, 1:] - x[:-1, :-1]
        tv = np.sum(down ** 2 + right ** 2) / (32 * 32)
        got = {k: float(v[i]) for k, v in costs.items()}
        np.testing.assert_allclose([got["content"], got["style"], got["tv"]],
                                   [content, style_cost, tv], rtol=2e-4)
        np.testing.assert_allclose(got["loss"], content + 3 * style_cost + 2 * tv, rtol=2e-4)
    assert loss.extractor.trainable is False


def test_a_random_loss_network_is_the_same_in_every_run_of_a_config():
    """A resumed run must judge with the loss network it started with."""
    settings = ("--model=style_net", "--style_image=brick", "--perceptual_weights=none",
                "--image_size=32", f"--content_layer={CONTENT}", f"--style_layers={STYLE[0]}")
    first, second = (style.TASK.for_run(config(*settings, f"--seed={seed}"))
                     for seed in (0, 0))
    other = style.TASK.for_run(config(*settings, "--seed=1"))
    weights = [task.loss.extractor.get_weights()[0] for task in (first, second, other)]
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.allclose(weights[0], weights[2])


def test_photos_are_crops_of_bundled_photos_split_by_photo():
    splits, names = data.photos_source()
    assert names == ("photo",)
    assert not set(data.PHOTOS["train"]) & set(data.PHOTOS["test"] + data.PHOTOS["validation"])
    crops = list(data.photo_crops(["coffee"], 3))
    assert len(crops) == 3 and all(c.shape[0] == c.shape[1] >= 0.4 * 400 for c in crops)
    assert all(c.dtype == np.uint8 and c.shape[-1] == 3 for c in crops)
    image, label = next(iter(splits["test"]))
    assert image.shape[-1] == 3 and int(label) == 0


def test_style_flags_are_checked():
    with pytest.raises(flags.IllegalFlagValueError, match="bundled images"):
        parse("--model=style_net", "--style_image=bricks")
    with pytest.raises(flags.IllegalFlagValueError, match="style_image is a setting of style"):
        parse("--model=lenet5", "--style_image=brick")
    with pytest.raises(flags.IllegalFlagValueError, match="perceptual_weights"):
        parse("--model=style_net", "--perceptual_weights=imagnet")
    parse("--model=style_net", "--style_image=brick", "--style_layers=block1_conv1_relu")


def _folder(root, size=48):
    """Six photos, four in the folder itself and two in a sub-folder (a style net needs
    no class folders): 4 / 1 / 1 after the 80/10/10 split."""
    for folder, names in (("", ("astronaut", "coffee", "rocket", "chelsea")), ("more", ("camera", "moon"))):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            picture = resize(getattr(skdata, name)(), (size, size), preserve_range=True)
            skio.imsave(root / folder / f"{name}.png", picture.astype("uint8"), check_contrast=False)
    return f"folder:{root}"


def test_a_style_run_needs_a_style_image_and_known_layers(tmp_path):
    with pytest.raises(HarnessError, match="--style_image"):
        run("--model=style_net", f"--model_dir={tmp_path / 'a'}")
    with pytest.raises(HarnessError, match="no layer 'block9_conv1_relu'"):
        run("--model=style_net", "--style_image=brick", "--style_layers=block9_conv1_relu",
            "--image_size=32", f"--model_dir={tmp_path / 'b'}")


def test_style_net_trains_reports_its_costs_and_exports(tmp_path):
    result = run("--model=style_net", "--style_image=brick", "--epochs=1", "--image_size=32",
                 f"--dataset={_folder(tmp_path / 'photos')}", f"--model_dir={tmp_path / 'run'}",
                 "--perceptual_weights=none", f"--content_layer={CONTENT}",
                 f"--style_layers={','.join(STYLE)}", "--export=tflite")
    report = read_json(tmp_path / "run" / "eval.json")
    assert report["monitor"] == "val_loss" and report["examples"] == 1
    assert report["content_cost"] > 0 and report["style_cost"] > 0
    assert report["settings"]["style_layers"] == list(STYLE)
    model = keras.saving.load_model(tmp_path / "run" / "best.keras", safe_mode=True)
    out = keras.ops.convert_to_numpy(model(photos(32)))
    assert out.shape == (4, 32, 32, 3) and 0 <= out.min() and out.max() <= 255
    flagfile = (tmp_path / "run" / "flags.txt").read_text().split("\n")
    assert "--style_image=brick" in flagfile and "--perceptual_weights=none" in flagfile
    assert "--learning_rate=0.001" in flagfile  # the task's rate, resolved for --resume
    assert result["config"].dataset.startswith("folder:")
    tflite = result["export"][0]["tflite"]  # checked on the run's own test images
    assert tflite["parity"]["passed"] and tflite["parity"]["outputs"][0]["max_abs_error"] <= 0.5


def test_a_loss_monitor_keeps_the_lowest_epoch(tmp_path):
    from training.checkpoint import RunState

    inputs = keras.Input((2,))
    state = RunState(str(tmp_path), "val_loss", higher_is_better=False)
    state.set_model(keras.Model(inputs, keras.layers.Dense(1)(inputs)))
    for epoch, value in enumerate([3.0, 2.0, 2.5]):
        state.on_epoch_end(epoch, {"val_loss": value})
    assert (state.best, state.best_epoch) == (2.0, 2)
