"""zoo-verify on a run of the harness's embedded default (an embedding trained on digits):
enrolment, identification and verification against the model's own embeddings and a
brute-force nearest neighbour, the threshold calibrated by the run, and one clear error
for each bad input."""

import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_digits

import zoo
from training import data
from zoo import verify
from zoo.explain.predict import PredictError

from harness_util import env, run

SIZE = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A harness run (lenet5 backbone, 16-wide embedding, 2 epochs on digits at 32 px) and
    its held-out digits as 32x32 grey PNGs, resized as the harness resizes them:
    <root>/people/<digit name>/*.png (two each), <root>/queries/<digit>_<i>.png."""
    root = tmp_path_factory.mktemp("verify")
    run("--model=embedding", "--model_args=backbone=lenet5,embedding_dim=16",
        f"--image_size={SIZE}", "--epochs=2", f"--model_dir={root / 'run'}")
    digits = load_digits()
    test = data._split_indices(digits.target)["test"]  # the split the run held out
    pixels = tf.image.resize(digits.images[test, :, :, None] / 16.0, (SIZE, SIZE), antialias=True)
    pixels = np.round(np.clip(pixels.numpy(), 0.0, 1.0) * 255.0).astype("uint8")[..., 0]
    names = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    queries = []
    for digit, name in enumerate(names):
        rows = np.flatnonzero(digits.target[test] == digit)
        (root / "people" / name).mkdir(parents=True)
        for i, row in enumerate(rows[:2]):
            Image.fromarray(pixels[row]).save(root / "people" / name / f"{i}.png")
        (root / "queries").mkdir(exist_ok=True)
        for i, row in enumerate(rows[2:4]):
            queries.append((name, str(root / "queries" / f"{digit}_{i}.png")))
            Image.fromarray(pixels[row]).save(queries[-1][1])
    return root, queries


def _embed(model, paths):
    """The reference: the .keras model called on the files' pixels, grey as RGB, 0-255."""
    images = np.stack([np.asarray(Image.open(p).convert("RGB"), "float32") for p in paths])
    return keras.ops.convert_to_numpy(model(images))


def test_enroll_identify_verify_match_the_model_and_brute_force(trained, tmp_path):
    root, queries = trained
    model_path = root / "run" / "best.keras"
    calibrated = json.loads((root / "run" / "verification.json").read_text())["threshold"]
    embedder = verify.load_embedder(model_path)
    assert embedder.threshold == calibrated and 0.0 < calibrated < 4.0
    gallery = verify.enroll(embedder, root / "people")
    verify.save_gallery(gallery, tmp_path / "gallery.npz")
    loaded = verify.load_gallery(tmp_path / "gallery.npz")
    model = keras.saving.load_model(model_path, safe_mode=True)
    assert list(loaded.identities) == [n for n in sorted(set(loaded.identities)) for _ in (0, 1)]
    np.testing.assert_allclose(loaded.embeddings, _embed(model, loaded.images), atol=1e-5)
    assert loaded.threshold == calibrated and loaded.model == str(model_path)

    query_embeddings = _embed(model, [p for _, p in queries])
    distances = ((query_embeddings[:, None] - loaded.embeddings[None]) ** 2).sum(-1)
    correct = 0
    for (name, path), row in zip(queries, distances):
        match = verify.identify(embedder, loaded, path)
        assert match.nearest == loaded.identities[row.argmin()]
        assert match.distance == pytest.approx(row.min(), abs=1e-5)
        assert match.identity == (match.nearest if row.min() <= calibrated else None)
        correct += match.identity == name
    assert correct >= 12  # of 20 held-out digits; chance is 2
    # An enrolled image is its own nearest, at distance 0.
    assert verify.identify(embedder, loaded, loaded.images[5]).identity == loaded.identities[5]
    assert verify.identify(embedder, loaded, queries[0][1], threshold=0.0).identity is None

    same, distance, threshold = verify.verify(embedder, queries[0][1], queries[1][1])
    a, b = query_embeddings[:2]
    assert distance == pytest.approx(((a - b) ** 2).sum(), abs=1e-5) and threshold == calibrated
    assert same == (distance <= calibrated)
    assert verify.verify(embedder, queries[0][1], queries[0][1], threshold=0.0)[0]


def test_the_runs_tflite_export_serves_as_well(trained, tmp_path):
    """The export beside the run (<run>/export/*.tflite): the same embeddings in LiteRT,
    the run's threshold found one folder up."""
    import export

    root, queries = trained
    run_dir = tmp_path / "run"
    shutil.copytree(root / "run", run_dir, ignore=shutil.ignore_patterns("export"))
    report = export.export_model(run_dir / "best.keras", run_dir / "export", formats="tflite",
                                 latency_runs=0)
    lite = verify.load_embedder(report["artifacts"][0]["path"])
    full = verify.load_embedder(run_dir / "best.keras")
    assert lite.predictor.format == "tflite" and lite.threshold == full.threshold is not None
    paths = [p for _, p in queries[:4]]
    np.testing.assert_allclose(lite.embed(paths), full.embed(paths), atol=1e-5)


def test_bad_inputs_give_one_clear_error(trained, tmp_path):
    root, queries = trained
    embedder = verify.load_embedder(root / "run" / "best.keras")
    classifier = zoo.build("lenet5", num_classes=10, input_shape=(SIZE, SIZE, 1))
    classifier.save(tmp_path / "classifier.keras")
    with pytest.raises(verify.VerifyError, match="is not an embedding model: its output is 'logits'"):
        verify.load_embedder(tmp_path / "classifier.keras")
    (tmp_path / "empty").mkdir()
    with pytest.raises(verify.VerifyError, match="holds no images"):
        verify.enroll(embedder, tmp_path / "empty")
    (tmp_path / "empty" / "alice").mkdir()
    with pytest.raises(verify.VerifyError, match="person folder .*alice' holds no images"):
        verify.enroll(embedder, tmp_path / "empty")
    (tmp_path / "broken.png").write_text("not a picture")
    with pytest.raises(PredictError, match="Cannot read image .*broken.png"):
        verify.verify(embedder, queries[0][1], tmp_path / "broken.png")
    with pytest.raises(verify.VerifyError, match="does not exist; make it with `zoo-verify enroll"):
        verify.load_gallery(tmp_path)
    # A model whose run calibrated nothing: a threshold must be given.
    (tmp_path / "bare").mkdir()
    shutil.copy(root / "run" / "best.keras", tmp_path / "bare")
    bare = verify.load_embedder(tmp_path / "bare" / "best.keras")
    assert bare.threshold is None
    with pytest.raises(verify.VerifyError, match="No calibrated threshold.*--threshold"):
        verify.verify(bare, queries[0][1], queries[1][1])
    with pytest.raises(verify.VerifyError, match="finite squared L2 distance >= 0; got -1"):
        verify.verify(bare, queries[0][1], queries[1][1], threshold=-1.0)


def _cli(*arguments):
    return subprocess.run([sys.executable, "-m", "zoo.verify_cli", *map(str, arguments)],
                          capture_output=True, text=True, env=env(), timeout=300)


@pytest.mark.slow  # four CLI processes (TensorFlow imports in each): about 25 s on idle cores
def test_cli_end_to_end(trained, tmp_path):
    root, queries = trained
    model = root / "run" / "best.keras"
    enrolled = _cli("enroll", f"--model={model}", f"--gallery={root / 'people'}",
                    f"--output={tmp_path / 'people.npz'}")
    assert enrolled.returncode == 0, enrolled.stderr[-2000:]
    assert "enrolled 20 images of 10 people" in enrolled.stdout
    embedder = verify.load_embedder(model)
    gallery = verify.load_gallery(tmp_path / "people.npz")
    identified = _cli("identify", f"--gallery={tmp_path / 'people.npz'}", queries[0][1], queries[5][1])
    assert identified.returncode == 0, identified.stderr[-2000:]
    for (_, path), line in zip((queries[0], queries[5]), identified.stdout.splitlines()):
        match = verify.identify(embedder, gallery, path)
        assert line.startswith(f"{path}: {match.identity or 'unknown'} ")
        assert f"{match.distance:.4f}" in line
    verified = _cli("verify", f"--model={model}", queries[0][1], queries[1][1])
    same, distance, _ = verify.verify(embedder, queries[0][1], queries[1][1])
    assert verified.stdout.startswith(f"{'same' if same else 'different'} (distance {distance:.4f}")
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    failed = _cli("verify", f"--model={model}", queries[0][1], broken)
    last = failed.stderr.strip().splitlines()[-1]
    assert failed.returncode == 2 and last.startswith("zoo-verify: error: Cannot read image"), last
