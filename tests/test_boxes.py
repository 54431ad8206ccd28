"""zoo.boxes against its references: hand-computed IoU, tf.image's NMS ops and
a brute-force greedy NMS, k-means on boxes drawn from known shapes, and
pycocotools' COCOeval."""

import contextlib
import io
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import boxes

# --- convert ------------------------------------------------------------------

# One box, x 10..50 and y 20..80, in a 100 (high) x 200 (wide) image, in every format.
ONE_BOX = {
    "xyxy": [10, 20, 50, 80], "yxyx": [20, 10, 80, 50], "xywh": [10, 20, 40, 60], "center_xywh": [30, 50, 40, 60],
    "rel_xyxy": [0.05, 0.2, 0.25, 0.8], "rel_yxyx": [0.2, 0.05, 0.8, 0.25], "rel_xywh": [0.05, 0.2, 0.2, 0.6],
    "rel_center_xywh": [0.15, 0.5, 0.2, 0.6],
}


@pytest.mark.parametrize("source", boxes.ALL_FORMATS)
def test_convert_matches_hand_values_between_every_pair(source):
    for target in boxes.ALL_FORMATS:
        got = boxes.convert([ONE_BOX[source]], source, target, image_size=(100, 200))
        np.testing.assert_allclose(got.numpy()[0], ONE_BOX[target], rtol=1e-6, err_msg=f"{source}->{target}")


def test_convert_keeps_any_leading_shape_and_round_trips():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (2, 3, 5, 2))
    grid = np.concatenate([xy, xy + rng.uniform(1, 50, xy.shape)], axis=-1)  # a rank-4 "grid" of boxes
    for target in boxes.ALL_FORMATS:
        there = boxes.convert(grid, "xyxy", target, image_size=(120, 90))
        assert there.shape == grid.shape and there.dtype == tf.float64
        np.testing.assert_allclose(boxes.convert(there, target, "xyxy", image_size=(120, 90)), grid, rtol=1e-12)
    assert boxes.convert(np.zeros((0, 4), int), "xyxy", "xywh").shape == (0, 4)
    assert boxes.convert([[0, 0, 2, 2]], "xyxy", "xywh").dtype == tf.float32  # integers become float32


def test_convert_refuses_bad_input_clearly():
    with pytest.raises(ValueError, match=r"'cxcywh' is not a box format.*Did you mean"):
        boxes.convert([[0, 0, 1, 1]], "xyxy", "cxcywh")
    with pytest.raises(ValueError, match=r"needs image_size=\(height, width\)"):
        boxes.convert([[0, 0, 1, 1]], "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="4 numbers on the last axis"):
        boxes.convert([[0, 0, 1]], "xyxy", "xywh")
    assert boxes.convert([[0, 0, 1, 1]], "XYWH", "Center_XYWH").shape == (1, 4)  # case-insensitive


# --- iou ----------------------------------------------------------------------

def test_iou_hand_values_and_degenerate_boxes_give_zero_not_nan():
    a = [[0, 0, 2, 2], [0, 0, 4, 4], [0, 0, 1, 1], [3, 3, 3, 3]]
    b = [[1, 1, 3, 3], [1, 1, 2, 2], [1, 0, 2, 1], [3, 3, 3, 3], [10, 10, 11, 12]]
    want = [[1 / 7, 1 / 4, 1 / 4, 0, 0],      # overlap 1 of 4 + 4 - 1; contains twice; a point; far
            [4 / 16, 1 / 16, 1 / 16, 0, 0],   # [0,0,4,4] holds the point (3, 3) but a zero area gives 0
            [0, 0, 0, 0, 0],                  # [0,0,1,1] touches [1,1,3,3] at a corner, [1,0,2,1] along an edge
            [0, 0, 0, 0, 0]]                  # a zero-area box against itself: 0, not 0/0
    got = boxes.iou(a, b).numpy()
    assert got.shape == (4, 5) and not np.isnan(got).any()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    np.testing.assert_allclose(boxes.iou([[0, 0, 2, 2]], [[0, 0, 2, 2]]), [[1.0]])


def test_iou_gradient_is_finite_at_degenerate_boxes():
    a = tf.Variable([[3.0, 3.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]])
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(boxes.iou(a, [[3.0, 3.0, 3.0, 3.0], [1.0, 0.0, 2.0, 1.0]]))
    assert np.isfinite(tape.gradient(value, a).numpy()).all()


def test_iou_equals_brute_force_in_every_format_batched_and_aligned():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 20, (2, 6, 4)), rng.uniform(0, 20, (2, 7, 4))  # corners in any order

    def brute(p, q):
        (x0, x1), (y0, y1) = sorted(p[0::2]), sorted(p[1::2])
        (u0, u1), (v0, v1) = sorted(q[0::2]), sorted(q[1::2])
        inter = max(min(x1, u1) - max(x0, u0), 0) * max(min(y1, v1) - max(y0, v0), 0)
        return inter / ((x1 - x0) * (y1 - y0) + (u1 - u0) * (v1 - v0) - inter)

    want = np.array([[[brute(p, q) for q in b[n]] for p in a[n]] for n in range(2)])
    np.testing.assert_allclose(boxes.iou(a, b).numpy(), want, rtol=1e-12)
    ordered = np.concatenate([np.minimum(a[..., :2], a[..., 2:]), np.maximum(a[..., :2], a[..., 2:])], -1)
    ordered_b = np.concatenate([np.minimum(b[..., :2], b[..., 2:]), np.maximum(b[..., :2], b[..., 2:])], -1)
    for fmt in boxes.ALL_FORMATS:  # relative boxes need no image size: IoU is a ratio of areas
        a_f = boxes.convert(ordered, "xyxy", fmt, image_size=(50, 80))
        b_f = boxes.convert(ordered_b, "xyxy", fmt, image_size=(50, 80))
        np.testing.assert_allclose(boxes.iou(a_f, b_f, fmt).numpy(), want, rtol=1e-9, err_msg=fmt)
    aligned = boxes.iou(a[:, :6], b[:, :6], pairwise=False).numpy()
    np.testing.assert_allclose(aligned, np.diagonal(want[:, :6, :6], axis1=1, axis2=2), rtol=1e-12)


def test_iou_agrees_with_keras_cv_up_to_its_epsilon():
    from keras_cv import bounding_box

    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 100, (2, 20, 2))
    a, b = np.concatenate([xy, xy + rng.uniform(1, 60, xy.shape)], axis=-1).astype("float32")
    np.testing.assert_allclose(boxes.iou(a, b), bounding_box.compute_iou(a, b, "xyxy"), atol=1e-6)


def test_shape_iou_is_the_iou_of_centred_boxes():
    wh_a, wh_b = np.array([[2.0, 4.0], [3.0, 0.0]]), np.array([[4.0, 2.0], [2.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(boxes.shape_iou(wh_a, wh_b), [[4 / 12, 1.0, 1 / 8], [0, 0, 0]], rtol=1e-6)
    centred = np.concatenate([-wh_a / 2, wh_a / 2], 1), np.concatenate([-wh_b / 2, wh_b / 2], 1)
    np.testing.assert_allclose(boxes.shape_iou(wh_a, wh_b), boxes.iou(*centred), rtol=1e-6)


# --- nms ----------------------------------------------------------------------

def random_detections(seed, n=40, grid=None):
    """xyxy boxes, scores and classes; `grid` snaps coordinates to integers in
    0..grid and scores to tenths, so that IoU and score ties really happen."""
    rng = np.random.default_rng(seed)
    if grid:
        xy = rng.integers(0, grid - 1, (n, 2))
        boxes_ = np.concatenate([xy, xy + rng.integers(1, grid // 2, (n, 2))], 1).astype("float32")
        scores = rng.integers(1, 10, n) / 10
    else:
        xy = rng.uniform(0, 100, (n, 2))
        boxes_ = np.concatenate([xy, xy + rng.uniform(5, 40, (n, 2))], 1).astype("float32")
        scores = rng.uniform(0, 1, n)
    return boxes_, scores.astype("float32"), rng.integers(0, 3, n)


def greedy_nms(boxes_, scores, iou_threshold, score_threshold, max_output_size, inclusive=False, classes=None):
    """The textbook loop with exact rational IoU (for integer boxes)."""
    def exact_iou(p, q):
        p, q = [Fraction(int(v)) for v in p], [Fraction(int(v)) for v in q]
        inter = max(min(p[2], q[2]) - max(p[0], q[0]), 0) * max(min(p[3], q[3]) - max(p[1], q[1]), 0)
        return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)

    threshold = Fraction(iou_threshold)
    left = sorted((i for i in range(len(scores)) if scores[i] > score_threshold), key=lambda i: -scores[i])
    kept = []
    while left and len(kept) < max_output_size:
        best = left.pop(0)
        kept.append(best)
        left = [i for i in left
                if (classes is not None and classes[i] != classes[best])
                or not (exact_iou(boxes_[i], boxes_[best]) >= threshold if inclusive
                        else exact_iou(boxes_[i], boxes_[best]) > threshold)]
    return kept


def test_nms_returns_tf_image_non_max_suppression_indices_in_order():
    for seed in range(40):
        exact_ties = seed % 2 == 1
        boxes_, scores, _ = random_detections(seed, grid=16 if exact_ties else None)
        yxyx = boxes_[:, [1, 0, 3, 2]]
        for iou_threshold, score_threshold, max_output_size in ((0.5, None, 100), (0.25, 0.3, 100), (0.75, 0.5, 5)):
            want = tf.image.non_max_suppression(yxyx, scores, max_output_size, iou_threshold,
                                                float("-inf") if score_threshold is None else score_threshold)
            args = dict(iou_threshold=iou_threshold, score_threshold=score_threshold, max_output_size=max_output_size)
            np.testing.assert_array_equal(boxes.nms(boxes_, scores, **args), want, err_msg=f"seed {seed}")
            if not exact_ties:  # another format rounds differently, and would move exact ties
                centre = boxes.convert(boxes_, "xyxy", "rel_center_xywh", image_size=(200, 300))
                np.testing.assert_array_equal(boxes.nms(centre, scores, box_format="rel_center_xywh", **args), want)


def test_nms_both_rules_equal_a_brute_force_greedy_loop_on_exact_ties():
    for seed in range(20):
        boxes_, scores, classes = random_detections(seed, grid=12)
        for iou_threshold in (0.5, 0.25, 0.75):
            for inclusive in (False, True):
                for class_aware in (False, True):
                    got = boxes.nms(boxes_, scores, iou_threshold=iou_threshold, score_threshold=0.2,
                                    inclusive=inclusive, class_aware=class_aware,
                                    classes=classes if class_aware else None)
                    want = greedy_nms(boxes_, scores, iou_threshold, np.float32(0.2), 100, inclusive,
                                      classes if class_aware else None)
                    assert got.numpy().tolist() == want, (seed, iou_threshold, inclusive, class_aware)


def test_nms_textbook_rule_on_a_hand_case():
    # IoU of box 1 with box 0 is exactly 0.5; box 2 scores exactly 0.6.
    boxes_ = np.array([[0, 0, 2, 1], [0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21]], "float32")
    scores = np.array([0.9, 0.8, 0.6, 0.61], "float32")
    assert boxes.nms(boxes_, scores).numpy().tolist() == [0, 1, 3, 2]                     # tf.image's rule
    textbook = boxes.nms(boxes_, scores, score_threshold=0.6, iou_threshold=0.5, inclusive=True)
    assert textbook.numpy().tolist() == [0, 3]


def test_class_aware_nms_keeps_what_combined_non_max_suppression_keeps():
    num_classes = 3
    for seed in range(20):
        boxes_, scores, classes = random_detections(seed, n=60)
        per_class = np.zeros((len(scores), num_classes), "float32")
        per_class[np.arange(len(scores)), classes] = scores  # other columns 0, under the score threshold
        for max_output_size, score_threshold in ((100, 0.0), (7, 0.4)):
            out = tf.image.combined_non_max_suppression(
                boxes_[None, :, None, [1, 0, 3, 2]], per_class[None], max_output_size, max_output_size,
                iou_threshold=0.4, score_threshold=score_threshold, clip_boxes=False)
            count = int(out.valid_detections[0])
            want = sorted(zip(out.nmsed_scores[0, :count].numpy().tolist(),
                              out.nmsed_classes[0, :count].numpy().tolist(),
                              map(tuple, out.nmsed_boxes[0, :count].numpy()[:, [1, 0, 3, 2]].tolist())))
            kept = boxes.nms(boxes_, scores, iou_threshold=0.4, score_threshold=score_threshold,
                             max_output_size=max_output_size, class_aware=True, classes=classes).numpy()
            got = sorted(zip(scores[kept].tolist(), classes[kept].astype(float).tolist(),
                             map(tuple, boxes_[kept].tolist())))
            assert got == want, seed
            assert np.all(np.diff(scores[kept]) <= 0)  # best first


def test_nms_runs_inside_a_tf_function():
    boxes_, scores, classes = random_detections(3)

    @tf.function(input_signature=[tf.TensorSpec([None, 4]), tf.TensorSpec([None]), tf.TensorSpec([None], tf.int64)])
    def both(b, s, c):
        return boxes.nms(b, s), boxes.nms(b, s, class_aware=True, classes=c)

    graph_plain, graph_aware = both(boxes_, scores, classes)
    np.testing.assert_array_equal(graph_plain, boxes.nms(boxes_, scores))
    np.testing.assert_array_equal(graph_aware, boxes.nms(boxes_, scores, class_aware=True, classes=classes))


def test_nms_refuses_bad_arguments_clearly():
    b, s = [[0, 0, 1, 1]], [0.5]
    with pytest.raises(ValueError, match=r"iou_threshold=1.5; accepted: 0 <= iou_threshold <= 1"):
        boxes.nms(b, s, iou_threshold=1.5)
    with pytest.raises(ValueError, match=r"0 < iou_threshold <= 1 with inclusive=True"):
        boxes.nms(b, s, iou_threshold=0, inclusive=True)
    with pytest.raises(ValueError, match=r"needs classes=\[N\]"):
        boxes.nms(b, s, class_aware=True)
    with pytest.raises(ValueError, match="pass class_aware=True"):
        boxes.nms(b, s, classes=[0])


# --- anchors ------------------------------------------------------------------

CLUSTERS = np.array([[10.0, 30.0], [40.0, 12.0], [60.0, 60.0], [120.0, 80.0]])  # areas apart


def clustered_boxes(seed, per_cluster=150, spread=0.06):
    """xyxy boxes around random centres whose shapes scatter +-spread around CLUSTERS."""
    rng = np.random.default_rng(seed)
    wh = np.concatenate([c * rng.uniform(1 - spread, 1 + spread, (per_cluster, 2)) for c in CLUSTERS])
    centre = rng.uniform(0, 300, wh.shape)
    return np.concatenate([centre - wh / 2, centre + wh / 2], 1), wh


@pytest.mark.parametrize("seed", range(2))
def test_anchors_from_boxes_recovers_known_cluster_shapes(seed):
    xyxy, wh = clustered_boxes(seed)
    anchors = boxes.anchors_from_boxes(xyxy, 4, seed=seed)
    assert anchors.shape == (4, 2) and anchors.dtype == np.float32
    np.testing.assert_allclose(anchors, CLUSTERS, rtol=0.03)  # smallest area first, as CLUSTERS is
    # A k-means fixed point: each anchor is the mean shape of the boxes nearest it.
    nearest = boxes.shape_iou(wh, anchors).numpy().argmax(1)
    for j in range(4):
        np.testing.assert_allclose(anchors[j], wh[nearest == j].mean(0), rtol=1e-5)
    assert boxes.mean_best_iou(wh, anchors) >= boxes.mean_best_iou(wh, CLUSTERS) - 1e-6
    np.testing.assert_array_equal(boxes.anchors_from_boxes(wh, 4, seed=seed), anchors)  # shapes [N, 2] alike


def test_anchors_from_boxes_more_anchors_fit_better_and_bad_input_is_refused():
    _, wh = clustered_boxes(0, spread=0.3)
    fits = [boxes.mean_best_iou(wh, boxes.anchors_from_boxes(wh, k)) for k in (1, 2, 4, 8)]
    assert fits == sorted(fits) and fits[0] < 0.5 < fits[-1]
    with pytest.raises(ValueError, match=r"k=5 must be between 1 and the number of distinct box shapes \(3\)"):
        boxes.anchors_from_boxes(np.array([[1, 2], [2, 1], [1, 1], [1, 1.0]]), 5)
    with pytest.raises(ValueError, match=r"1 boxes have a width or height that is not positive.*index 1"):
        boxes.anchors_from_boxes(np.array([[0, 0, 2, 2], [0, 0, 0, 3.0]]), 1)


# --- evaluate against pycocotools ---------------------------------------------

STATS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
         "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def coco_reference(predictions, ground_truth):
    """pycocotools' 12 stats and per-class AP (area all, 100 detections) for
    lists in evaluate's format."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        b = np.asarray(b, np.float64).reshape(-1, 4)
        return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1).tolist()

    classes = sorted({int(c) for image in predictions + ground_truth for c in image["classes"]})
    dataset = {"images": [{"id": i + 1} for i in range(len(ground_truth))],
               "categories": [{"id": c} for c in classes], "annotations": []}
    for i, image in enumerate(ground_truth):
        for box, c in zip(xywh(image["boxes"]), image["classes"]):
            dataset["annotations"].append({"id": len(dataset["annotations"]) + 1, "image_id": i + 1,
                                           "category_id": int(c), "bbox": box, "area": box[2] * box[3],
                                           "iscrowd": 0})
    results = [{"image_id": i + 1, "category_id": int(c), "bbox": box, "score": float(s)}
               for i, image in enumerate(predictions)
               for box, s, c in zip(xywh(image["boxes"]), image["scores"], image["classes"])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    stats = {name: (None if value == -1 else value) for name, value in zip(STATS, coco_eval.stats)}
    precision = coco_eval.eval["precision"][:, :, :, 0, 2]
    per_class = {c: precision[:, :, k].mean() for k, c in enumerate(coco_eval.params.catIds)
                 if (precision[:, :, k] > -1).any()}
    return stats, per_class


def assert_matches_coco(predictions, ground_truth, **kwargs):
    got = boxes.evaluate(predictions, ground_truth, **kwargs)
    stats, per_class = coco_reference(predictions, ground_truth)
    for name in STATS:
        if stats[name] is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(stats[name], abs=1e-6), name
    assert {c: v["AP"] for c, v in got["per_class"].items()} == pytest.approx(per_class, abs=1e-6)
    return got


def synthetic_set(seed, num_images=25, num_classes=3, size=256):
    """Ground truth of all sizes (small, medium and large in COCO's sense) and
    predictions that find, miss, shift, duplicate, mislabel and invent boxes.
    Coordinates are whole pixels and scores tenths, so IoU and score ties occur."""
    rng = np.random.default_rng(seed)
    predictions, ground_truth = [], []
    for _ in range(num_images):
        n = rng.integers(0, 7)
        wh = np.exp(rng.uniform(np.log(4), np.log(160), (n, 2))).round()
        xy = rng.integers(0, size - 160, (n, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        gt_classes = rng.integers(0, num_classes, n)
        found = rng.uniform(size=n) < 0.8
        shifted = gt[found] + rng.integers(-6, 7, (int(found.sum()), 4))
        dup = shifted[rng.uniform(size=len(shifted)) < 0.3]
        fp_xy = rng.integers(0, size - 64, (rng.integers(0, 5), 2))
        invented = np.concatenate([fp_xy, fp_xy + rng.integers(4, 64, fp_xy.shape)], 1)
        pred_boxes = np.concatenate([shifted, dup, invented]).astype(float)
        pred_classes = np.concatenate([gt_classes[found], rng.integers(0, num_classes, len(dup) + len(invented))])
        swap = rng.uniform(size=len(pred_classes)) < 0.1
        pred_classes[swap] = rng.integers(0, num_classes, int(swap.sum()))
        predictions.append({"boxes": pred_boxes, "scores": rng.integers(1, 11, len(pred_boxes)) / 10,
                            "classes": pred_classes})
        ground_truth.append({"boxes": gt.astype(float), "classes": gt_classes})
    return predictions, ground_truth


def test_evaluate_agrees_with_pycocotools_on_random_sets():
    for seed in range(12):
        got = assert_matches_coco(*synthetic_set(seed))
        assert 0 < got["AP"] < got["AP50"] < 1


def test_evaluate_agrees_with_pycocotools_past_100_detections_and_on_float_boxes():
    rng = np.random.default_rng(7)
    predictions, ground_truth = synthetic_set(7, num_images=4)
    crowd = rng.uniform(0, 200, (150, 2))  # one image and class with 150 detections: maxDets cuts at 100
    predictions[0] = {"boxes": np.concatenate([crowd, crowd + rng.uniform(2, 60, crowd.shape)], 1),
                      "scores": rng.uniform(size=150), "classes": np.zeros(150, int)}
    ground_truth[0] = {"boxes": predictions[0]["boxes"][::3] + rng.normal(0, 2, (50, 4)), "classes": np.zeros(50)}
    assert_matches_coco(predictions, ground_truth)


def test_evaluate_hand_cases():
    gt = [{"boxes": [[0, 0, 10, 10]], "classes": [1]}]
    # IoU 0.6 exactly: a match at 0.50, 0.55 and 0.60 of the ten thresholds.
    got = assert_matches_coco([{"boxes": [[0, 0, 10, 6]], "scores": [0.5], "classes": [1]}], gt)
    assert (got["AP"], got["AP50"], got["AP75"]) == pytest.approx((0.3, 1.0, 0.0))
    # A better-scored miss before the hit: precision 1/2 at recall 1, in COCO and VOC alike.
    miss_then_hit = [{"boxes": [[20, 20, 30, 30], [0, 0, 10, 10]], "scores": [0.9, 0.8], "classes": [1, 1]}]
    got = assert_matches_coco(miss_then_hit, gt, voc07=True)
    assert (got["AP50"], got["VOC_AP50"], got["VOC07_AP50"]) == pytest.approx((0.5, 0.5, 0.5))
    # VOC matches a detection to the box it overlaps most, even when that box is
    # taken (then it is a false positive); COCO takes the best box still free.
    two = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 8]], "classes": [0, 0]}]
    second_on_taken = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 9.5]], "scores": [0.9, 0.8], "classes": [0, 0]}]
    got = assert_matches_coco(second_on_taken, two)
    assert got["AP50"] == pytest.approx(1.0) and got["VOC_AP50"] == pytest.approx(0.5)
    # IoU exactly 0.5: a match for COCO (IoU >= 0.5), not for VOC (IoU > 0.5).
    got = assert_matches_coco([{"boxes": [[0, 0, 10, 5]], "scores": [0.9], "classes": [1]}], gt)
    assert (got["AP50"], got["VOC_AP50"]) == pytest.approx((1.0, 0.0))
    # The 11-point rule: recall 1/2 at precision 1 -> 6 of 11 points; all-point: 1/2.
    half = [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "classes": [0]}]
    got = boxes.evaluate(half, two, voc07=True)
    assert (got["VOC_AP50"], got["VOC07_AP50"]) == pytest.approx((0.5, 6 / 11))


def voc_all_point_by_definition(predictions, ground_truth, c):
    """Area under VOC's interpolated precision-recall curve, summed per true
    positive: each adds 1/num_gt of recall at the best precision from it on."""
    ranked = sorted(((s, i, b) for i, p in enumerate(predictions)
                     for b, s, k in zip(p["boxes"], p["scores"], p["classes"]) if k == c),
                    key=lambda d: -d[0])  # sorted() is stable: equal scores keep image order
    taken = {(i, j): False for i, g in enumerate(ground_truth) for j, k in enumerate(g["classes"]) if k == c}
    hits = []
    for _, i, b in ranked:
        gts = [(j, g) for j, (g, k) in enumerate(zip(ground_truth[i]["boxes"], ground_truth[i]["classes"])) if k == c]
        overlaps = [boxes.iou([b], [g]).numpy()[0, 0] for _, g in gts] if gts else []
        best = int(np.argmax(overlaps)) if gts else -1
        hit = best >= 0 and overlaps[best] > 0.5 and not taken[(i, gts[best][0])]
        if hit:
            taken[(i, gts[best][0])] = True
        hits.append(hit)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return sum(max(precision[n:]) for n in range(len(hits)) if hits[n]) / len(taken)


def test_voc_ap_equals_its_definition():
    for seed in range(3):
        predictions, ground_truth = synthetic_set(seed, num_images=10)
        for p in predictions:  # VOC's ranking has no rule for equal scores: make them distinct
            p["scores"] = p["scores"] + np.random.default_rng(seed).uniform(0, 0.01, len(p["scores"]))
        got = boxes.evaluate(predictions, ground_truth)
        for c, values in got["per_class"].items():
            want = voc_all_point_by_definition(predictions, ground_truth, c)
            assert values["VOC_AP50"] == pytest.approx(want, abs=1e-5), (seed, c)


def test_evaluate_edge_cases_and_names():
    gt = [{"boxes": [[0, 0, 10, 10]], "classes": [1]}, {"boxes": np.zeros((0, 4)), "classes": []}]
    nothing = [{"boxes": [], "scores": [], "classes": []}] * 2
    got = boxes.evaluate(nothing, gt)
    assert got["AP"] == 0 and got["VOC_AP50"] == 0 and got["AP_medium"] is None
    # A class only predicted counts nowhere; names key the per-class results.
    stray = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]], "scores": [0.9, 0.95], "classes": [1, 2]}, nothing[0]]
    got = boxes.evaluate(stray, gt, class_names=["bg", "square", "circle"])
    assert list(got["per_class"]) == ["square"] and got["AP"] == pytest.approx(1.0)
    yxyx = [{**p, "boxes": np.asarray(p["boxes"], float).reshape(-1, 4)[:, [1, 0, 3, 2]]} for p in stray]
    assert boxes.evaluate(yxyx, [{**g, "boxes": np.asarray(g["boxes"]).reshape(-1, 4)} for g in gt],
                          box_format="yxyx")["AP"] == pytest.approx(1.0)


def test_evaluate_refuses_bad_input_clearly():
    gt = [{"boxes": [[0, 0, 1, 1]], "classes": [0]}]
    with pytest.raises(ValueError, match="1 predictions for 2 ground-truth images"):
        boxes.evaluate([{"boxes": [], "scores": [], "classes": []}], gt * 2)
    with pytest.raises(ValueError, match=r"predictions\[0\] must be a dict with keys \['boxes', 'scores', 'classes'\]"):
        boxes.evaluate([{"boxes": [[0, 0, 1, 1]], "classes": [0]}], gt)
    with pytest.raises(ValueError, match=r"predictions\[0\]\['scores'\] has 2 values for 1 boxes"):
        boxes.evaluate([{"boxes": [[0, 0, 1, 1]], "scores": [1, 2], "classes": [0]}], gt)
    with pytest.raises(ValueError, match="ground_truth holds no boxes"):
        boxes.evaluate([{"boxes": [], "scores": [], "classes": []}], [{"boxes": [], "classes": []}])
    with pytest.raises(ValueError, match="NaN or infinite"):
        boxes.evaluate([{"boxes": [[0, 0, 1, 1]], "scores": [np.nan], "classes": [0]}], gt)


def test_exported_as_zoo_boxes():
    assert zoo.boxes is boxes


# --- YOLO grid encoding ---------------------------------------------------------

ANCHORS = np.array([[1.0, 1.0], [2.0, 0.5], [0.5, 2.0]])  # in grid cells


def test_yolo_encode_hand_case():
    # 64 x 64 image, 2 x 2 grid of 32-pixel cells. Box centre (40, 10), 32 x 32 pixels:
    # cell row 0, column 1, offsets (0.25, 0.3125), shape 1 x 1 cell = anchor 0 exactly.
    target = boxes.yolo_encode([[24, -6, 56, 26]], [3], anchors=ANCHORS, grid_size=(2, 2), image_size=(64, 64))
    assert target.shape == (2, 2, 3, 6)
    np.testing.assert_allclose(target[0, 1, 0], [0.25, 0.3125, 0, 0, 1, 3])
    assert np.count_nonzero(target.numpy()[..., 4]) == 1
    # A wide box (64 x 16 pixels = 2 x 0.5 cells) goes to anchor 1, tall ones to anchor 2.
    target = boxes.yolo_encode([[0, 40, 64, 56], [30, 0, 38, 64]], [0, 1], anchors=ANCHORS, grid_size=(2, 2),
                               image_size=(64, 64))
    np.testing.assert_allclose(target[1, 1, 1], [0, 0.5, 0, 0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(target[1, 1, 2], [34 / 32 - 1, 0, np.log(0.25 / 0.5), 0, 1, 1], atol=1e-6)


def test_yolo_encode_two_boxes_wanting_one_slot():
    # Four boxes of one shape centred in one cell, three anchors: the first placed
    # takes the best anchor, the next ones the next-best free anchors, the fourth is dropped.
    same = [[0, 0, 20, 20], [1, 1, 21, 21], [2, 2, 22, 22], [3, 3, 23, 23]]
    target = boxes.yolo_encode(same, [0, 1, 2, 3], anchors=ANCHORS, grid_size=(2, 2), image_size=(64, 64)).numpy()
    cell = target[0, 0]
    assert cell[:, 4].tolist() == [1, 1, 1] and np.count_nonzero(target[..., 4]) == 3
    preference = np.argsort(-boxes.shape_iou([[20 / 32, 20 / 32]], ANCHORS).numpy()[0], kind="stable")
    assert cell[preference, 5].tolist() == [0, 1, 2]  # in the order given; class 3 dropped


def test_yolo_encode_then_decode_returns_every_box():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        grid, image = (7, 5), (224, 160)
        # One box per cell of random cells, centred anywhere in it, of any shape.
        cells = rng.choice(grid[0] * grid[1], 12, replace=False)
        centre = (np.stack([cells % grid[1], cells // grid[1]], 1) + rng.uniform(0, 1, (12, 2))) * 32
        size = rng.uniform(4, 150, (12, 2))
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], 1).astype("float32")
        classes = rng.integers(0, 20, 12)
        padded = np.concatenate([xyxy, np.zeros((3, 4), "float32")])  # padding boxes are skipped
        target = boxes.yolo_encode(padded, np.concatenate([classes, [-1] * 3]), anchors=ANCHORS, grid_size=grid,
                                   image_size=image)
        decoded, objectness = boxes.yolo_decode(target, anchors=ANCHORS, image_size=image, from_logits=False)
        present = objectness.numpy() == 1
        got = sorted(zip(target.numpy()[..., 5][present].tolist(), decoded.numpy()[present].round(3).tolist()))
        assert got == sorted(zip(classes.astype(float).tolist(), xyxy.round(3).tolist()))
        # each box in the anchor of the best shape IoU
        best = boxes.shape_iou(size / 32, ANCHORS).numpy().argmax(1)
        assert sorted(np.argwhere(present)[:, 2].tolist()) == sorted(best.tolist())


def test_yolo_encode_relative_boxes_and_inside_tf_data():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (2, 6, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(5, 60, xy.shape)], -1).astype("float32")
    classes = rng.integers(0, 3, (2, 6))

    def encode(b, c):
        return boxes.yolo_encode(b, c, anchors=ANCHORS, grid_size=(8, 8), image_size=(256, 256))

    in_graph = [t.numpy() for t in tf.data.Dataset.from_tensor_slices((xyxy, classes)).map(encode)]
    for n in range(2):
        np.testing.assert_allclose(in_graph[n], encode(xyxy[n], classes[n]), atol=1e-6)
        relative = boxes.convert(xyxy[n], "xyxy", "rel_center_xywh", image_size=(256, 256))
        np.testing.assert_allclose(boxes.yolo_encode(relative, classes[n], anchors=ANCHORS, grid_size=(8, 8),
                                                     image_size=(256, 256), box_format="rel_center_xywh"),
                                   in_graph[n], atol=1e-5)


def test_yolo_decode_of_model_outputs():
    outputs = np.zeros((1, 2, 2, 3, 5 + 4), "float32")  # t = 0: the cell's centre, the anchor's shape
    outputs[0, 1, 0, 1, :5] = [np.log(3), -np.log(3), np.log(2), 0, 2.0]  # sigmoid(log 3) = 0.75
    decoded, objectness = boxes.yolo_decode(outputs, anchors=ANCHORS, image_size=(64, 128))
    assert decoded.shape == (1, 2, 2, 3, 4) and objectness.shape == (1, 2, 2, 3)
    # 2 x 2 grid on 64 high x 128 wide: cells 64 px wide, 32 px high.
    np.testing.assert_allclose(decoded[0, 0, 1, 0], [64, 0, 128, 32], atol=1e-5)  # centre (96, 16), 64 x 32
    np.testing.assert_allclose(decoded[0, 1, 0, 1], [48 - 128, 40 - 8, 48 + 128, 40 + 8], atol=1e-4)
    np.testing.assert_allclose(objectness[0, 1, 0, 1], 1 / (1 + np.exp(-2)), rtol=1e-6)
    np.testing.assert_allclose(objectness[0, 0, 0, 0], 0.5)
