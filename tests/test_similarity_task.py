"""The similarity task: verification metrics against brute force and scipy, the task's
hooks, and a short harness run on digits that writes every eval.json key."""

import itertools
import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

import zoo
from training import data, tasks, verification
from training.errors import DataError

from harness_util import run

# Hand-made distances: 4 same pairs, 5 different pairs.
SAME = [0.1, 0.2, 0.5, 0.9]
DIFFERENT = [0.3, 0.6, 0.7, 0.8, 1.0]


def _hand():
    return np.array(SAME + DIFFERENT), np.array([True] * 4 + [False] * 5)


def _random_pairs(seed=0, n=400):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.3
    return rng.normal(np.where(same, 1.0, 2.0), 0.6), same


def test_pairs_are_every_i_below_j_with_squared_distances():
    features = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    distances, same = verification.pairs(features, np.array([7, 7, 2]))
    np.testing.assert_allclose(distances, [25.0, 1.0, 18.0])  # (0,1), (0,2), (1,2)
    np.testing.assert_array_equal(same, [True, False, False])
    with pytest.raises(DataError, match="needs same and different pairs: 3 images of 1 identities"):
        verification.pairs(features, np.array([1, 1, 1]))


def test_roc_auc_is_the_mann_whitney_probability():
    distances, same = _random_pairs()
    positives, negatives = distances[same], distances[~same]
    brute = np.mean((positives[:, None] < negatives[None, :])
                    + 0.5 * (positives[:, None] == negatives[None, :]))
    assert verification.roc_auc(distances, same) == pytest.approx(brute, abs=1e-12)
    assert verification.roc_auc(*_hand()) == pytest.approx(np.mean(
        [s < d for s in SAME for d in DIFFERENT]))


def test_equal_error_rate_matches_the_brentq_reference():
    for seed in range(3):
        distances, same = _random_pairs(seed)
        fpr, tpr, _ = roc_curve(same, -distances)
        reference = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
        assert verification.equal_error_rate(distances, same) == pytest.approx(reference, abs=1e-9)
    # Separable: no threshold errs both ways, so the rates meet at 0.
    assert verification.equal_error_rate(np.array([0.1, 0.2, 0.8, 0.9]),
                                         np.array([True, True, False, False])) == 0.0


@pytest.mark.parametrize("far, threshold, tar", [
    (0.0, 0.2, 0.5),    # no different pair may pass: under 0.3
    (0.2, 0.5, 0.75),   # one of five: under 0.6
    (0.4, 0.6, 0.75),   # two of five
    (1.0, 1.0, 1.0),
])
def test_tar_and_threshold_at_far_by_hand(far, threshold, tar):
    distances, same = _hand()
    got_threshold, got_far, got_tar = verification.threshold_at_far(distances, same, far)
    assert (got_threshold, got_tar) == (pytest.approx(threshold), pytest.approx(tar))
    assert got_far <= far and verification.tar_at_far(distances, same, far) == got_tar


def test_calibrated_threshold_is_the_largest_with_far_at_most_the_target():
    distances, same = _random_pairs(1, n=3000)
    for target in (1e-3, 1e-2, 0.1):
        threshold, far, tar = verification.threshold_at_far(distances, same, target)
        assert far == np.mean(distances[~same] <= threshold) <= target
        assert tar == np.mean(distances[same] <= threshold)
        # Brute force: every distance as a threshold, the largest that keeps the FAR.
        fars = np.array([np.mean(distances[~same] <= t) for t in distances])
        assert threshold == distances[fars <= target].max()


def _one_shot_brute_force(features, labels, way):
    """The exact expected top-1 over every way-subset and every gallery/query choice."""
    identities = [i for i in np.unique(labels) if np.sum(labels == i) >= 2]
    per_subset = []  # subsets are equally likely; within one, every pick is
    for chosen in itertools.combinations(identities, way):
        choices = [list(itertools.permutations(np.flatnonzero(labels == i), 2)) for i in chosen]
        scores = []
        for picks in itertools.product(*choices):
            gallery = features[[g for g, _ in picks]]
            for row, (_, query) in enumerate(picks):
                scores.append(np.argmin(((gallery - features[query]) ** 2).sum(-1)) == row)
        per_subset.append(np.mean(scores))
    return np.mean(per_subset)


def test_one_shot_accuracy_matches_the_exact_expectation():
    features = np.array([[0.0], [0.1], [10.0], [5.0], [5.1], [9.0], [20.0], [20.5]])
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    for way in (2, 3):
        exact = _one_shot_brute_force(features, labels, way)
        got, used = verification.one_shot_accuracy(features, labels, way=way, draws=40_000, seed=1)
        assert used == way and 0.5 < exact < 1.0
        assert got == pytest.approx(exact, abs=0.01)
    assert verification.one_shot_accuracy(features, labels, way=10)[1] == 3  # all there are
    with pytest.raises(DataError, match="2 identities with 2 images or more; 1 have"):
        verification.one_shot_accuracy(features, np.array([0, 0, 1, 2, 3, 4, 5, 6]))


def test_report_has_every_number_on_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8))
    make = lambda n: (np.repeat(centres, n, 0) + 0.2 * rng.normal(size=(5 * n, 8)),  # noqa: E731
                      np.repeat(np.arange(5), n))
    report = verification.report(make(20), make(10), target_far=0.01, draws=200)
    assert report["roc_auc"] > 0.99 and report["one_shot_top1"] > 0.95 and report["eer"] < 0.05
    assert report["threshold_calibration_far"] <= 0.01 and report["one_shot_way"] == 5
    assert report["pairs"] == {"same": 5 * 45, "different": 50 * 49 // 2 - 5 * 45}
    assert {"tar_at_far_0.01", "tar_at_far_0.001", "threshold", "threshold_test_far",
            "threshold_test_tar"} <= set(report)


# --- the task ------------------------------------------------------------------------

def test_task_hooks():
    task = tasks.get_task("similarity")
    assert (task.monitor, task.output_kind, task.class_outputs) == ("val_roc_auc", "embeddings", False)
    labels = tf.constant([0, 0, 1, 1, 2, 2])
    targets = task.targets(labels, 3)
    assert targets.dtype == tf.int32 and targets.shape == (6,)
    embeddings = tf.math.l2_normalize(tf.random.stateless_normal((6, 4), seed=(0, 1)), -1)
    loss = task.per_example_loss(targets, embeddings)
    expected = zoo.losses.TripletLoss(margin=0.2, mining="semi_hard")(labels, embeddings)
    np.testing.assert_allclose(loss, np.full(6, expected), rtol=1e-6)  # the loop's mean is it
    metrics = task.split_metrics(targets.numpy(), embeddings.numpy())
    distances, same = verification.pairs(embeddings.numpy(), labels.numpy())
    assert metrics == {"roc_auc": verification.roc_auc(distances, same),
                       "eer": verification.equal_error_rate(distances, same)}
    assert "blend two identities" in task.check_augment(["flip", "mixup"])
    assert task.check_augment(["flip", "crop"]) is None
    assert "segmentation" in task.check_dataset("shapes", model="embedding")
    assert task.check_dataset("lfw", model="embedding") is None


def test_training_batches_are_p_identities_by_k_images():
    task = tasks.get_task("similarity")
    digits = data.load("digits", image_shape=(16, 16, 1), task=task)
    for batch_size, (p, k) in ((32, (8, 4)), (64, (10, 6)), (5, (2, 2))):
        batches = task.train_batches(digits.cached["train"], batch_size=batch_size, seed=0,
                                     num_classes=10, input_range=(0.0, 255.0))
        for images, labels in batches.take(2):
            assert images.shape == (p * k, 16, 16, 1) and float(tf.reduce_max(images)) > 1.0
            groups = labels.numpy().reshape(p, k)
            assert (groups == groups[:, :1]).all() and len(set(groups[:, 0])) == p


def test_a_folder_too_small_to_make_held_out_pairs_is_refused_before_training(tmp_path):
    # Six images per person: 80/10/10 leaves one per person in validation and test, so
    # no pair of one identity to verify; before the check, the run failed after epoch 1.
    from skimage import io as skio

    rng = np.random.default_rng(0)
    for person in ("ann", "bob", "cy"):
        (tmp_path / person).mkdir()
        for i in range(6):
            skio.imsave(tmp_path / person / f"{i}.png", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8),
                        check_contrast=False)
    with pytest.raises(DataError, match="the validation split holds 3 image.*of 3 identit.*0 of them with 2"):
        data.load(f"folder:{tmp_path}", image_shape=(8, 8, 3), task="similarity")
    assert data.load(f"folder:{tmp_path}", image_shape=(8, 8, 3)).num_classes == 3  # a classifier's fine


def test_tfds_labels_through_mock_data_give_pk_batches():
    import tensorflow_datasets as tfds

    task = tasks.get_task("similarity")
    with tfds.testing.mock_data(num_examples=60):
        mnist = data.load("mnist", image_shape=(16, 16, 3), task=task)
        batch = next(iter(task.train_batches(mnist.cached["train"], batch_size=8, seed=0,
                                             num_classes=mnist.num_classes)))
    assert batch[0].shape == (8, 16, 16, 3) and len(set(batch[1].numpy())) == 2


EVAL_KEYS = {"loss", "roc_auc", "eer", "tar_at_far_0.01", "tar_at_far_0.001", "threshold",
             "threshold_target_far", "threshold_calibration_far", "threshold_test_far",
             "threshold_test_tar", "one_shot_top1", "one_shot_way", "one_shot_draws", "pairs"}


def test_harness_trains_an_embedding_on_digits_and_reports_verification(tmp_path):
    """Trained on digits 0-6; 7, 8 and 9 are the identities it never saw."""
    result = run("--model=embedding", "--model_args=backbone=lenet5,embedding_dim=16",
                 "--image_size=32", "--epochs=1", "--classes=0,1,2,3,4,5,6",
                 f"--model_dir={tmp_path}")
    report = json.loads((tmp_path / "eval.json").read_text())
    assert EVAL_KEYS <= set(report) and EVAL_KEYS - {"loss"} <= set(report["raw_pixels"])
    assert report["monitor"] == "val_roc_auc" and report["one_shot_way"] == 7
    unseen = report["unseen_identities"]
    assert EVAL_KEYS - {"loss"} <= set(unseen) and unseen["identities"] == 3
    assert unseen["one_shot_way"] == 3
    assert sum(unseen["pairs"].values()) == 533 * 532 // 2  # every image of 7, 8 and 9
    assert report["threshold_calibration_far"] <= report["threshold_target_far"] == 1e-3
    # One epoch already separates digits better than their pixels do.
    assert report["roc_auc"] > report["raw_pixels"]["roc_auc"]
    saved = json.loads((tmp_path / "verification.json").read_text())
    assert saved["threshold"] == report["threshold"] and saved["distance"] == "squared_l2"
    model = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert model.output.shape == (None, 16)
    embeddings = model(np.zeros((2, 32, 32, 3), "float32"))
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=-1), 1.0, rtol=1e-5)
    assert result["eval"]["roc_auc"] == report["roc_auc"]
    # training.png: loss, val eer, val roc_auc, then the test ROC and distance histograms.
    assert plt.imread(tmp_path / "training.png").shape[1] == 5 * 4.5 * 80


def _lfw_as_dataset(people):
    """A mock of tfds lfw's `_as_dataset`: `people` {name: images}, each image a flat grey
    level that names its person (40 * index) at lfw's 250x250, JPEG-encoded when the decoders
    skip decoding,
    as tfds's reader does."""
    import tensorflow_datasets as tfds

    examples = [(name, 40 * i) for i, (name, n) in enumerate(people.items()) for _ in range(n)]
    order = np.random.default_rng(0).permutation(len(examples))  # people interleaved

    def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False):
        skip = isinstance((decoders or {}).get("image"), tfds.decode.SkipDecoding)
        names = tf.constant([examples[i][0] for i in order])
        images = tf.constant(np.stack([np.full((250, 250, 3), examples[i][1], "uint8") for i in order]))
        ds = tf.data.Dataset.from_tensor_slices({"label": names, "image": images})
        return ds.map(lambda e: {**e, "image": tf.io.encode_jpeg(e["image"], quality=100)}) if skip else ds

    return as_dataset


def test_lfw_names_become_identities_through_mock_data():
    """lfw labels people by name (tfds Text): names with 3 images or more become the
    identities, sorted, each split 70/15/15 like a folder; the rest are dropped."""
    import tensorflow_datasets as tfds

    people = {"Zoe": 6, "Ann": 10, "Bob": 2, "Carl": 4, "Dee": 1}
    task = tasks.get_task("similarity")
    with tfds.testing.mock_data(as_dataset_fn=_lfw_as_dataset(people)):
        lfw = data.load("lfw", image_shape=(16, 16, 3), task=task)
        batch = next(iter(task.train_batches(lfw.cached["train"], batch_size=4, seed=0,
                                             num_classes=lfw.num_classes)))
    assert lfw.class_names == ("Ann", "Carl", "Zoe")
    grey = {name: 40 * i for i, name in enumerate(people)}
    counts = {}
    for split in data.SPLITS:
        for image, label in lfw.cached[split].as_numpy_iterator():
            name = lfw.class_names[label]
            assert abs(int(image.mean()) - grey[name]) <= 1  # the label is the image's person
            counts.setdefault(split, {}).setdefault(name, 0)
            counts[split][name] += 1
    # Per person: max(1, round(15%)) for validation and test (Ann's 1.5 rounds to 2), the rest
    # for training.
    assert counts == {"train": {"Ann": 6, "Carl": 2, "Zoe": 4},
                      "validation": {"Ann": 2, "Carl": 1, "Zoe": 1},
                      "test": {"Ann": 2, "Carl": 1, "Zoe": 1}}
    assert batch[0].shape == (4, 16, 16, 3) and len(set(batch[1].numpy())) == 2
    with tfds.testing.mock_data(as_dataset_fn=_lfw_as_dataset({"A": 2, "B": 1, "C": 5})):
        with pytest.raises(DataError, match="'lfw': 1 of its 3 names have 3 images or more"):
            data.load("lfw", image_shape=(16, 16, 3), task=task)


def test_balanced_pairs_are_half_same_with_labels_read_from_the_identities():
    from training import sampling

    labels = tf.constant(np.repeat([3, 7, 9, 4], 4))  # a P x K batch: 4 identities x 4 images
    images = tf.reshape(tf.range(16, dtype=tf.float32), [16, 1])  # image i holds i
    for step in range(5):
        (first, second), same = sampling.balanced_pairs(images, labels, tf.constant([0, step]))
        first, second, same = (np.asarray(t) for t in (first, second, same))
        partner = second[:, 0].astype(int)
        np.testing.assert_array_equal(first[:, 0], np.arange(16))
        assert (partner != np.arange(16)).all()  # never an image with itself
        np.testing.assert_array_equal(same, labels.numpy() == labels.numpy()[partner])
        np.testing.assert_array_equal(same, np.arange(16) % 2 == 0)  # even: same, odd: different
    again = sampling.balanced_pairs(images, labels, tf.constant([0, 4]))[0][1]
    np.testing.assert_array_equal(again, second)  # seeded


def test_held_out_pairs_give_each_image_a_same_and_a_different_partner():
    from training import sampling

    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 5])  # identity 5 has no second image
    first, second, same = sampling.held_out_pairs(labels, seed=1)
    assert same.sum() == 9 and (~same).sum() == 10  # 9 images with a partner of their identity
    np.testing.assert_array_equal(same, labels[first] == labels[second])
    assert (first != second).all()
    assert sorted(first[same]) == [i for i in range(10) if labels[i] != 5]
    assert sorted(first[~same]) == list(range(10))
    np.testing.assert_array_equal(sampling.held_out_pairs(labels, seed=1)[1], second)


def test_harness_trains_a_siamese_network_on_pairs_and_reports_verification(tmp_path):
    """Binary cross-entropy on balanced pairs; the logit is the score, its threshold in logits."""
    result = run("--model=siamese", "--model_args=backbone=lenet5,embedding_dim=16",
                 "--image_size=32", "--epochs=4", f"--model_dir={tmp_path}")
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["monitor"] == "val_roc_auc" and report["threshold_unit"] == "logit"
    assert {"roc_auc", "eer", "tar_at_far_0.01", "tar_at_far_0.001", "pair_accuracy"} <= set(report)
    assert report["roc_auc"] > 0.9 and report["pair_accuracy"] > 0.75, report  # 0.96, 0.88 here
    assert report["pairs"]["same"] == report["pairs"]["different"] == report["examples"]
    assert report["threshold_calibration_far"] <= report["threshold_target_far"] == 1e-3
    assert 0.5 < report["raw_pixels"]["roc_auc"] < report["roc_auc"]
    saved = json.loads((tmp_path / "verification.json").read_text())
    assert (saved["distance"], saved["threshold"]) == ("logit", report["threshold"])
    model = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert [tuple(t.shape) for t in model.inputs] == [(None, 32, 32, 3)] * 2
    a, b = (np.random.default_rng(i).uniform(0, 255, (2, 32, 32, 3)).astype("float32") for i in (0, 1))
    np.testing.assert_allclose(model([a, b]), model([b, a]), rtol=1e-5, atol=1e-6)  # symmetric
    assert result["export"] == [] and result["eval"]["roc_auc"] == report["roc_auc"]
    # training.png: loss, val eer, val pair_accuracy, val roc_auc, then the test ROC.
    assert plt.imread(tmp_path / "training.png").shape[1] == 5 * 4.5 * 80


def test_a_model_whose_inputs_its_task_does_not_feed_is_refused():
    from training.errors import HarnessError
    from training.train import build_model

    with pytest.raises(HarnessError, match=r"--model=siamese takes 2 inputs \(input_a, input_b\); "
                                           "its task, pair_similarity, feeds 1 image per example"):
        build_model("siamese", (32, 32, 3), None, {"backbone": "lenet5", "embedding_dim": 8})


def test_the_mixed_precision_probe_feeds_a_pair_model_two_inputs():
    from training import precision

    build = lambda: zoo.build("siamese", backbone="lenet5", embedding_dim=8,  # noqa: E731
                              input_shape=(32, 32, 3))
    times = precision.step_times(build, ["float32"], (32, 32, 3), 2, rounds=1)
    assert set(times) == {"float32"} and times["float32"] > 0
