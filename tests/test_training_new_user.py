"""What a new user meets first: help, clean errors, resuming from anywhere,
pretrained files that do not fit, and the epoch numbering of training.csv."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from skimage import data as skdata
from skimage import io as skio

import zoo
from training import transfer
from training.errors import HarnessError, WeightsError

from harness_util import cli, read_json, run

QUICK = ("--epochs=1", "--classes=0,1", "--mixed_precision=float32", "--export=")


@pytest.mark.parametrize("script, flag", [("zoo-train", "--model_dir"),
                                          ("zoo-export", "--output_dir")])
def test_console_scripts_list_their_own_flags(script, flag):
    result = subprocess.run([str(Path(sys.executable).parent / script), "--help"],
                            capture_output=True, text=True, timeout=300)
    assert flag in result.stdout, result.stdout[-2000:]


def _one_class_folder(root):
    for i, name in enumerate(("chelsea", "coffee", "rocket")):
        (root / "cats").mkdir(parents=True, exist_ok=True)
        skio.imsave(root / "cats" / f"{i}.png", getattr(skdata, name)(), check_contrast=False)
    return root


@pytest.mark.parametrize("args, message", [
    (("--dataset=folder:{photos}",), "needs at least 2"),
    (("--classes=0,99",), r"--classes \[99\] out of range"),
])
def test_expected_failures_are_one_line_exit_code_2_and_no_run_folder(tmp_path, args, message):
    photos = _one_class_folder(tmp_path / "photos")
    result = cli(*(a.format(photos=photos) for a in args), "--mixed_precision=float32",
                 cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("zoo-train: error: ")
    assert __import__("re").search(message, last), last
    assert not (tmp_path / "runs").exists()


def test_resume_from_another_directory_continues_the_same_run(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    first = cli(*QUICK, "--model_dir=relative_run", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    flagfile = work / "relative_run" / "flags.txt"
    assert f"--model_dir={work / 'relative_run'}" in flagfile.read_text().splitlines()
    second = cli(f"--flagfile={flagfile}", "--epochs=2", "--resume", cwd=elsewhere)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed after epoch 1" in second.stdout
    assert read_json(work / "relative_run" / "checkpoints" / "state.json")["epoch"] == 2
    assert not list(elsewhere.iterdir())


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    with pytest.raises(HarnessError, match="holds no checkpoint to continue"):
        run(*QUICK, "--resume", f"--model_dir={tmp_path}")


def test_a_size_the_trained_form_of_the_model_refuses_is_one_harness_error(tmp_path):
    # googlenet builds at 32 px, but the harness trains it with its side branches (65 px and up).
    with pytest.raises(HarnessError, match="trains it with its side branches.*at least 65x65"):
        run("--model=googlenet", "--image_size=32", f"--model_dir={tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()


def test_training_csv_counts_from_1_and_a_resume_drops_rows_past_the_checkpoint(tmp_path):
    run("--epochs=2", "--classes=0,1", f"--model_dir={tmp_path}")
    path = tmp_path / "training.csv"
    # A kill after epoch 3's row was written and before its checkpoint: the state says 2.
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, "3" + lines[-1][lines[-1].index(","):]]) + "\n")
    run("--epochs=3", "--classes=0,1", f"--model_dir={tmp_path}", "--resume")
    with open(path) as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1, 2, 3]


def test_pretrained_file_of_another_architecture_is_refused_and_leaves_no_run(tmp_path):
    other = zoo.build("resnet18", input_shape=(32, 32, 1), num_classes=10)
    other.save_weights(tmp_path / "resnet18.weights.h5")
    with pytest.raises(WeightsError, match=r"none of lenet5_relu's \d+ backbone tensors matched"):
        run(*QUICK, f"--pretrained={tmp_path / 'resnet18.weights.h5'}",
            f"--model_dir={tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()


def test_pretrained_file_loads_what_matches_and_says_how_much(tmp_path):
    donor = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5)
    donor.save_weights(tmp_path / "rgb.weights.h5")
    model = zoo.build("resnet18", input_shape=(32, 32, 1), num_classes=5)  # grey: conv1 differs
    head = transfer.head_layers(model, "resnet18")
    counts = transfer.load_pretrained(model, str(tmp_path / "rgb.weights.h5"), name="resnet18",
                                      head=head)
    assert counts["skipped"] == 1 and counts["loaded"] == counts["backbone_tensors"] - 1
    np.testing.assert_array_equal(model.get_layer("conv2_block1_1_conv").get_weights()[0],
                                  donor.get_layer("conv2_block1_1_conv").get_weights()[0])
    assert not np.array_equal(model.get_layer("conv1_conv").get_weights()[0][:, :, :1],
                              donor.get_layer("conv1_conv").get_weights()[0][:, :, :1])


def test_pretrained_source_is_checked_before_the_precision_probe(tmp_path, monkeypatch):
    from training import precision

    def probe(*args, **kwargs):
        raise AssertionError("the precision probe ran before the weights were checked")

    monkeypatch.setattr(precision, "choose", probe)
    (tmp_path / "broken.weights.h5").write_bytes(b"not an HDF5 file")
    with pytest.raises(WeightsError, match="neither a .keras archive nor an HDF5"):
        run(*QUICK, f"--pretrained={tmp_path / 'broken.weights.h5'}",
            f"--model_dir={tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()
    keras.backend.clear_session()


def _readme_commands(program):
    """The argument lists of the README's `program ...` lines (continuations joined)."""
    import re
    import shlex

    from harness_util import REPO

    commands = []
    for block in re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(program + " "):
                commands.append(shlex.split(line)[1:])
    return commands


DETECTION_TFDS = ("voc/2007", "coco/2017")


@pytest.mark.slow
def test_readme_training_examples_run_as_written(tmp_path):
    """Each README `zoo-train` example is parsed as written (flag validators included).
    Those on a user's or tfds's data run for one epoch: the tfds ones on tfds's mock
    data, folders on real photos, `npz:` on arrays the test writes (a folder one
    whose ImageNet download a test may not do is parsed only). The examples on the
    embedded datasets are each trained by their own tests (tests/test_training*.py,
    test_similarity_task.py): here they are parsed."""
    import tensorflow_datasets as tfds
    from test_detection_task import consistent_examples

    from training.data import EMBEDDED_DATASETS

    from harness_util import parse

    photos = tmp_path / "photos"
    for label, names in (("cats", ("chelsea", "cat", "astronaut")),
                         ("things", ("coffee", "rocket", "camera"))):
        (photos / label).mkdir(parents=True)
        for name in names:
            skio.imsave(photos / label / f"{name}.png", getattr(skdata, name)(),
                        check_contrast=False)
    rng = np.random.default_rng(0)
    faces = tmp_path / "faces"  # 8 "people", 25 crops each (split 80/10/10): P x K batches and test pairs need several
    for person in ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "moon", "rocket"):
        (faces / person).mkdir(parents=True)
        picture = getattr(skdata, person)()
        for crop in range(25):
            top, left = rng.integers(0, 64, 2)
            skio.imsave(faces / person / f"{crop}.png", picture[top:top + 96, left:left + 96],
                        check_contrast=False)
    signals = tmp_path / "signals.npz"
    np.savez(signals, x=rng.normal(size=(60, 64, 1)).astype("float32"), y=np.arange(60) % 3)
    coco = tmp_path / "coco"  # 20 images of one box each, a COCO file beside them
    coco.mkdir()
    boxes = [[4, 6, 12, 10] for _ in range(20)]
    for i, (x, y, w, h) in enumerate(boxes):
        picture = np.zeros((32, 32, 3), "uint8")
        picture[y:y + h, x:x + w] = 200
        skio.imsave(coco / f"im{i}.png", picture, check_contrast=False)
    (coco / "annotations.json").write_text(json.dumps({
        "images": [{"id": i, "file_name": f"im{i}.png", "width": 32, "height": 32}
                   for i in range(20)],
        "categories": [{"id": 1, "name": "square"}],
        "annotations": [{"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "bbox": box}
                        for i, box in enumerate(boxes)]}))
    places = {"/photos": str(photos), "/faces": str(faces), "/data/ecg.npz": str(signals),
              "/data/annotations.json": str(coco / "annotations.json")}

    def placed(arg):
        for placeholder, path in places.items():
            arg = arg.replace(placeholder, path)
        return arg

    examples = [[placed(a) for a in args]
                for args in _readme_commands("zoo-train") if not any("<" in a for a in args)]
    assert len(examples) >= 6, examples
    ran = 0
    for index, args in enumerate(examples):
        parse(*args)
        dataset = next((a.split("=", 1)[1] for a in args if a.startswith("--dataset=")), "digits")
        if "--pretrained=imagenet" in args or dataset in EMBEDDED_DATASETS:
            continue
        # tfds's random mocks of detection sets disagree in their objects' lengths
        mock = ({"as_dataset_fn": consistent_examples} if dataset in DETECTION_TFDS
                else {"num_examples": 20})
        # Detectors run at 64 px here: a 416 px YOLO epoch would add minutes to CI.
        small = ["--image_size=64"] if dataset in DETECTION_TFDS or dataset.startswith("coco:") else []
        with tfds.testing.mock_data(**mock):
            result = run(*args, "--epochs=1", *small, f"--model_dir={tmp_path / str(index)}")
        assert np.isfinite(result["eval"]["loss"]), args
        ran += 1
    assert ran >= 3


def test_harness_export_uses_the_runs_own_classes_and_images(tmp_path):
    """With --classes the export used to reload the whole dataset: 10 labels for a
    3-class model, and int8 calibrated on classes the model never saw."""
    result = run("--epochs=1", "--classes=3,5,7", "--export=tflite:int8", f"--model_dir={tmp_path}")
    (report,) = result["export"]
    assert report["metadata"]["labels"] == ["3", "5", "7"]
    assert report["tflite"]["parity"]["passed"]
    assert report["tflite"]["parity"]["samples"] == result["eval"]["examples"]
