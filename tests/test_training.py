"""The training harness end to end: the default job, flags, determinism, NaN stop."""

import csv
import math

import keras
import numpy as np
import pytest
from absl import flags

from harness_util import cli, parse, read_json, run

OUTPUTS = ("flags.txt", "versions.json", "best.keras", "last.keras", "training.csv",
           "training.png", "eval.json", "checkpoints/state.json")


def test_default_cli_run_writes_every_output_and_reaches_99_percent(tmp_path):
    """The README's main job: no flags but the cheap pictures of --explain; LeNet-5 (ReLU,
    max pooling, random shifts) on the digits, into a new folder under runs/."""
    result = cli("--explain=filters,patches,gradcam", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("lenet5_relu-digits-")
    run_dir = runs[0]
    for name in OUTPUTS:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    report = read_json(run_dir / "eval.json")
    assert report["split"] == "test" and report["model"] == "lenet5_relu"
    assert report["accuracy"] >= 0.99, report  # SVC's is 0.996 on this split (bench/accuracy.py)
    flagfile = (run_dir / "flags.txt").read_text().split("\n")
    assert "--model=lenet5_relu" in flagfile and "--dataset=digits" in flagfile
    assert "--augment=crop" in flagfile  # the model's default, recorded for --resume
    assert "--learning_rate=0.005" in flagfile  # likewise (the harness's: lenet5_relu has none)
    assert "--seed=0" in flagfile
    assert any(line in ("--mixed_precision=float32", "--mixed_precision=mixed_bfloat16",
                        "--mixed_precision=mixed_float16") for line in flagfile)  # auto resolved
    versions = read_json(run_dir / "versions.json")
    assert versions["packages"]["tensorflow"] and versions["packages"]["keras"]
    model = keras.saving.load_model(run_dir / "best.keras", safe_mode=True)
    assert len(model.outputs) == 1
    with open(run_dir / "training.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == list(range(1, flags.FLAGS["epochs"].default + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert "Epoch 1/" in result.stdout  # keras's progress bar
    # Quiet by default (no TensorFlow start-up, CUDA or converter lines), and a summary.
    noise = [line for line in result.stderr.splitlines() if line.strip()]
    assert not noise, noise
    assert f"run folder: {run_dir}" in result.stdout
    assert "exported tflite: " in result.stdout and "test (" in result.stdout
    # The main job ends with a SavedModel and a TFLite model that passed parity.
    assert (run_dir / "export" / "lenet5_relu.tflite").is_file()
    assert (run_dir / "export" / "lenet5_relu_saved_model" / "saved_model.pb").is_file()
    export_report = read_json(run_dir / "export" / "lenet5_relu.report.json")
    assert export_report["tflite"]["parity"]["passed"]
    assert export_report["tflite"]["parity"]["samples"] == report["examples"]
    # and the pictures the main job asks for (tests/test_explain_cli.py checks their pixels)
    assert sorted(p.name for p in (run_dir / "explain").iterdir()) == [
        "explain.json", "filters.png", "gradcam.png", "patches.png"]
    assert f"explained: filters, patches, gradcam in {run_dir / 'explain'}" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--optimizer=adagrad"], "--optimizer"),
    (["--schedule=linear"], "--schedule"),
    (["--strategy=parameter_server"], "--strategy"),
    (["--mixed_precision=float8"], "--mixed_precision"),
    (["--learning_rate=-1"], "--learning_rate"),
    (["--batch_size=0"], "--batch_size"),
    (["--label_smoothing=2"], "--label_smoothing"),
    (["--model=resnet05"], "Did you mean resnet50"),
    (["--dataset=no_such_dataset"], "not digits, shapes, trace, moving_digits, photos, folder:/path, npz:/path, "
                                        "coco:/path/annotations.json or a tfds"),
    (["--dataset=folder:/no/such/dir"], "is not a directory"),
    (["--pretrained=/no/such.keras"], "neither 'imagenet' nor an existing"),
    (["--freeze_backbone"], "--freeze_backbone needs --pretrained"),
    (["--resume"], "--resume needs --model_dir"),
    (["--classes=1,x"], "--classes must be distinct"),
    (["--export=tflite:int4"], "'tflite:int4' is not saved_model, tflite or tflite:<none|float16"),
    (["--model=resnet18", "--model_args=widht=2"], "resnet18 has no argument"),
    (["--model=resnet18", "--image_size=16"], "too small for resnet18: it needs at least 32"),
    (["--model=resnet18", "--dataset=shapes"], "shapes is for segmentation and detection models"),
    (["--model=unet"], "unet segments images: --dataset must have masks"),
    (["--strategy=multi_worker"], "multi_worker needs the TF_CONFIG"),
])
def test_bad_flag_values_get_one_clear_error(args, message, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        parse(*args)


def test_bad_flag_on_the_command_line_exits_with_the_message(tmp_path):
    result = cli("--optimizer=adagrad", cwd=tmp_path, timeout=300)
    assert result.returncode != 0
    assert "--optimizer" in result.stderr and "adagrad" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_seeded_deterministic_runs_give_identical_weights(tmp_path):
    args = ("--epochs=2", "--seed=7", "--deterministic", "--batch_size=32")
    first = run(*args, f"--model_dir={tmp_path / 'a'}")["model"].get_weights()
    second = run(*args, f"--model_dir={tmp_path / 'b'}")["model"].get_weights()
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    third = run("--epochs=2", "--seed=8", "--deterministic", "--batch_size=32",
                f"--model_dir={tmp_path / 'c'}")["model"].get_weights()
    assert any(not np.array_equal(a, c) for a, c in zip(first, third))


class PoisonAt(keras.callbacks.Callback):
    """Sets the last kernel (the logits') to NaN when epoch `epoch` begins: a NaN in
    an early kernel can vanish in max pooling."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            weights = next(w for w in reversed(self.model.trainable_weights) if w.ndim > 1)
            weights.assign(np.full(weights.shape, np.nan, "float32"))


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    from training.loop import NonFiniteLoss

    with pytest.raises(NonFiniteLoss, match=r"nan at epoch 2, batch 1.*last good checkpoint "
                                            r"\(epoch 1\)"):
        run("--epochs=3", f"--model_dir={tmp_path}", callbacks=[PoisonAt(1)])
    state = read_json(tmp_path / "checkpoints" / "state.json")
    assert state["epoch"] == 1 and math.isfinite(state["logs"]["loss"])
    last = keras.saving.load_model(tmp_path / "last.keras")
    assert all(np.isfinite(w).all() for w in last.get_weights())
    assert (tmp_path / "training.png").is_file()


def test_a_finished_run_is_not_overwritten_without_resume(tmp_path):
    run("--epochs=1", "--classes=0,1", f"--model_dir={tmp_path}")
    with pytest.raises(Exception, match="already holds a run.*--resume"):
        run("--epochs=1", "--classes=0,1", f"--model_dir={tmp_path}")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_policies_train(policy, tmp_path):
    result = run(f"--mixed_precision={policy}", "--epochs=1", "--classes=0,1,2",
                 f"--model_dir={tmp_path}")
    assert read_json(tmp_path / "versions.json")["policy"] == policy
    assert math.isfinite(result["eval"]["loss"]) and result["eval"]["accuracy"] > 0.5


def test_auto_precision_picks_a_supported_policy_by_timing(caplog):
    import logging

    from training import precision
    from training.train import build_model

    with caplog.at_level(logging.INFO, logger="absl"):
        chosen = precision.choose("auto", lambda: build_model("lenet5", (32, 32, 1), 10),
                                  (32, 32, 1), batch_size=8)
    assert chosen in precision.supported_policies()
    assert "mixed_precision=auto" in caplog.text
    assert precision.choose("auto", None, (32, 32, 1), 8, reproducible=True) == "float32"
    assert precision.choose("mixed_bfloat16", None, (32, 32, 1), 8) == "mixed_bfloat16"


@pytest.mark.parametrize("mixed_share, expected", [(0.8, "mixed_bfloat16"), (0.95, "float32"),
                                                   (1.2, "float32")])
def test_auto_precision_leaves_float32_only_for_a_clearly_faster_policy(
        monkeypatch, mixed_share, expected):
    from training import precision

    monkeypatch.setattr(precision, "supported_policies", lambda: ["float32", "mixed_bfloat16"])
    monkeypatch.setattr(precision, "step_times", lambda build, policies, *args: {
        "float32": 0.1, "mixed_bfloat16": 0.1 * mixed_share})
    assert precision.choose("auto", None, (32, 32, 1), 8) == expected


def test_console_script_points_at_the_harness():
    import configparser
    import importlib

    from harness_util import REPO

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    scripts = dict(line.split(" = ") for line in
                   config["options.entry_points"]["console_scripts"].strip().splitlines())
    module, function = scripts["zoo-train"].split(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_mirrored_strategy_runs_the_same_loop(tmp_path):
    result = run("--strategy=mirrored", "--epochs=1", "--classes=0,1,2", f"--model_dir={tmp_path}")
    assert read_json(tmp_path / "versions.json")["strategy"] == "mirrored"
    assert result["eval"]["accuracy"] > 0.5


def test_best_epoch_breaks_accuracy_ties_by_the_lower_validation_loss(tmp_path):
    from training.checkpoint import RunState

    inputs = keras.Input((4,))
    state = RunState(str(tmp_path), "val_accuracy")
    state.set_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
    history = [(0.90, 0.50), (0.99, 0.30), (0.99, 0.10), (0.99, 0.20), (0.98, 0.05)]
    for epoch, (accuracy, loss) in enumerate(history):
        state.on_epoch_end(epoch, {"val_accuracy": accuracy, "val_loss": loss})
    assert state.best_epoch == 3  # 0.99 first at epoch 2, with a lower loss at epoch 3
    saved = read_json(tmp_path / "checkpoints" / "state.json")
    assert (saved["best"], saved["best_loss"], saved["best_epoch"]) == (0.99, 0.10, 3)
