"""Box operations for detection: formats, IoU, non-max suppression, anchor
shapes chosen from data, and COCO / VOC evaluation.

Formats (case-insensitive; each also as `rel_<format>`, relative to the image
size, so 0..1 across the image):

- "xyxy": (x_min, y_min, x_max, y_max), the format used everywhere here unless
  an argument says otherwise
- "yxyx": (y_min, x_min, y_max, x_max), tf.image's order
- "xywh": (x_min, y_min, width, height), COCO's
- "center_xywh": (x_centre, y_centre, width, height); "rel_center_xywh" is the
  YOLO label format

`convert`, `iou`, `shape_iou` and `nms` are tensor functions (keras.ops and
tf.image: they run eagerly, in tf.data and inside a model); `anchors_from_boxes`
and `evaluate` work on a dataset at once and return numpy / Python values.
"""

import numpy as np
import tensorflow as tf
from keras import backend, ops

from zoo.utils import did_you_mean

FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh")
ALL_FORMATS = FORMATS + tuple(f"rel_{name}" for name in FORMATS)


def _check_format(box_format, argument="box_format"):
    name = str(box_format).lower()
    if name not in ALL_FORMATS:
        raise ValueError(f"{argument}={box_format!r} is not a box format; accepted: {', '.join(FORMATS)}, "
                         f"each also as rel_<format> (relative to the image size).{did_you_mean(name, ALL_FORMATS)}")
    return name


def _check_boxes(boxes, what="boxes"):
    boxes = ops.convert_to_tensor(boxes)
    if boxes.shape.rank is not None and (boxes.shape.rank == 0 or boxes.shape[-1] != 4):
        raise ValueError(f"{what} must have 4 numbers on the last axis; got shape {tuple(boxes.shape)}.")
    return _floating(boxes)


def _floating(x):
    """`x` as a tensor of its own float dtype, or float32 if it holds integers."""
    x = ops.convert_to_tensor(x)
    return x if "float" in backend.standardize_dtype(x.dtype) else ops.cast(x, "float32")


def is_relative(box_format):
    return _check_format(box_format).startswith("rel_")


def convert(boxes, source, target, *, image_size=None):
    """`boxes` [..., 4] from format `source` to `target` (see the module doc).

    Between a pixel and a relative format, `image_size=(height, width)` gives the
    scale. Any leading shape (a batch, a YOLO grid) is kept; integer boxes become
    float32, float boxes keep their dtype. Returns a tensor.
    """
    source, target = _check_format(source, "source"), _check_format(target, "target")
    boxes = _check_boxes(boxes)
    if source == target:
        return boxes
    if source.startswith("rel_") != target.startswith("rel_") and image_size is None:
        raise ValueError(f"Converting boxes from {source!r} to {target!r} needs image_size=(height, width).")
    # Imported here: keras_cv's import costs about 2 s and only convert needs it.
    from keras_cv import bounding_box

    dtype = backend.standardize_dtype(boxes.dtype)
    # keras_cv wants (height, width, channels), and boxes of rank 2 or 3: flatten
    # any leading shape (a YOLO grid is rank 5) and restore it after.
    image_shape = None if image_size is None else (image_size[0], image_size[1], 1)
    shape = ops.shape(boxes)
    flat = ops.reshape(boxes, (-1, 4))
    # keras_cv has no relative centre format (YOLO's labels). Changing the layout
    # commutes with scaling x by the width and y by the height, so its pixel
    # centre conversion does the job on relative numbers.
    if source == "rel_center_xywh":
        flat = bounding_box.convert_format(flat, "center_xywh", "xyxy", dtype=dtype)
        source = "rel_xyxy"
    if target == "rel_center_xywh":
        flat = bounding_box.convert_format(flat, source, "rel_xyxy", image_shape=image_shape, dtype=dtype)
        flat = bounding_box.convert_format(flat, "xyxy", "center_xywh", dtype=dtype)
    else:
        flat = bounding_box.convert_format(flat, source, target, image_shape=image_shape, dtype=dtype)
    return ops.reshape(flat, shape)


def _corners(boxes, box_format):
    """(y_min, x_min, y_max, x_max) with each pair in order, whichever two
    opposite corners `boxes` names (as tf.image's NMS reads them). Relative boxes
    need no image size: scaling x and y scales every area by the same factor,
    and IoU is a ratio of areas."""
    box_format = _check_format(box_format).removeprefix("rel_")
    y1, x1, y2, x2 = ops.unstack(convert(boxes, box_format, "yxyx"), 4, axis=-1)
    return ops.minimum(y1, y2), ops.minimum(x1, x2), ops.maximum(y1, y2), ops.maximum(x1, x2)


def iou(a, b, box_format="xyxy", *, pairwise=True):
    """Intersection over union of boxes `a` [..., N, 4] and `b` [..., M, 4]: the
    [..., N, M] matrix (leading axes broadcast). `pairwise=False` gives the IoU
    of aligned pairs instead, `a` and `b` broadcasting to [..., 4] -> [...].

    Disjoint and touching boxes give 0, and so does a box of zero area, even
    against itself: never NaN, and the gradient is finite too. The arithmetic is
    tf.image's NMS kernel's, in the same order, so that `nms` and this agree.
    """
    a, b = _check_boxes(a, "a"), _check_boxes(b, "b")
    if pairwise:
        a, b = ops.expand_dims(a, -2), ops.expand_dims(b, -3)
    ymin_a, xmin_a, ymax_a, xmax_a = _corners(a, box_format)
    ymin_b, xmin_b, ymax_b, xmax_b = _corners(b, box_format)
    area_a = (ymax_a - ymin_a) * (xmax_a - xmin_a)
    area_b = (ymax_b - ymin_b) * (xmax_b - xmin_b)
    height = ops.maximum(ops.minimum(ymax_a, ymax_b) - ops.maximum(ymin_a, ymin_b), 0.0)
    width = ops.maximum(ops.minimum(xmax_a, xmax_b) - ops.maximum(xmin_a, xmin_b), 0.0)
    intersection = height * width
    union = area_a + area_b - intersection
    valid = ops.logical_and(area_a > 0, area_b > 0)
    # The masked branch divides by 1, not 0: a NaN there would leak into gradients.
    return ops.where(valid, intersection / ops.where(valid, union, 1.0), 0.0)


def shape_iou(a, b):
    """IoU of box shapes `a` [N, 2] and `b` [M, 2], (width, height), as if the
    boxes shared a centre: the [N, M] matrix. How YOLOv2 compares a box with
    the anchor boxes, both in k-means and when assigning a box to an anchor.
    A zero width or height gives 0."""
    a = _floating(a)
    b = ops.cast(b, a.dtype)
    w_a, h_a = ops.maximum(a[:, 0:1], 0.0), ops.maximum(a[:, 1:2], 0.0)
    w_b, h_b = ops.maximum(b[None, :, 0], 0.0), ops.maximum(b[None, :, 1], 0.0)
    intersection = ops.minimum(w_a, w_b) * ops.minimum(h_a, h_b)
    union = w_a * h_a + w_b * h_b - intersection
    return ops.where(union > 0, intersection / ops.where(union > 0, union, 1.0), 0.0)


def nms(boxes, scores, *, iou_threshold=0.5, score_threshold=None, max_output_size=100,
        class_aware=False, classes=None, inclusive=False, box_format="xyxy"):
    """Greedy non-max suppression: the indices of the kept boxes, best first.

    Drops boxes scoring <= `score_threshold` (None: keep all), then repeatedly
    keeps the best remaining box and suppresses the boxes whose IoU with it is
    > `iou_threshold`, up to `max_output_size` kept. Equal scores keep index
    order. With the defaults the result is exactly
    `tf.image.non_max_suppression`'s (which runs it).

    `class_aware=True` takes `classes` [N] (one class per box) and suppresses a
    box only by boxes of its own class: the same detections as
    `tf.image.combined_non_max_suppression(..., clip_boxes=False)` given each
    box's score in its class's column. It builds the [N', N'] IoU matrix of
    the N' boxes that pass the score threshold.

    `inclusive=True` suppresses at IoU >= `iou_threshold` instead. The textbook
    rule (Andrew Ng's course: drop p_c <= 0.6, then suppress at IoU >= 0.5) is
    `nms(boxes, scores, score_threshold=0.6, iou_threshold=0.5, inclusive=True)`.

    Relative boxes need no image size (IoU does not change with the scale).
    """
    threshold = float(iou_threshold)
    if not 0.0 <= threshold <= 1.0 or (inclusive and threshold == 0.0):
        accepted = "0 < iou_threshold <= 1 with inclusive=True" if inclusive else "0 <= iou_threshold <= 1"
        raise ValueError(f"iou_threshold={iou_threshold!r}; accepted: {accepted}.")
    if class_aware and classes is None:
        raise ValueError("nms(class_aware=True) needs classes=[N], the class of each box.")
    if classes is not None and not class_aware:
        raise ValueError("nms got classes but class_aware=False: pass class_aware=True for per-class "
                         "suppression, or leave classes out.")
    if inclusive:
        # IoU >= t is IoU > (the float32 just below t): no float32 lies between.
        threshold = float(np.nextafter(np.float32(threshold), np.float32(-1)))
    score_threshold = float("-inf") if score_threshold is None else float(score_threshold)
    box_format = _check_format(box_format).removeprefix("rel_")
    boxes = convert(_check_boxes(boxes), box_format, "yxyx")
    boxes = ops.cast(boxes, "float32")
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    if not class_aware:
        return tf.image.non_max_suppression(boxes, scores, max_output_size, threshold, score_threshold)
    # Per class: an IoU matrix where boxes of different classes overlap by -1,
    # below any threshold. Boxes under the score threshold go first (they can
    # never be kept), so the matrix is as small as it can be.
    candidates = tf.reshape(tf.where(scores > score_threshold), [-1])
    boxes, scores = tf.gather(boxes, candidates), tf.gather(scores, candidates)
    classes = tf.gather(ops.convert_to_tensor(classes), candidates)
    same_class = tf.equal(classes[:, None], classes[None, :])
    overlaps = tf.where(same_class, iou(boxes, boxes, "yxyx"), -1.0)
    kept = tf.image.non_max_suppression_overlaps(overlaps, scores, max_output_size, threshold, score_threshold)
    return tf.gather(tf.cast(candidates, tf.int32), kept)


def anchors_from_boxes(boxes, k, *, box_format="xyxy", seed=0, n_init=5, max_iter=300):
    """`k` anchor shapes chosen from a dataset's boxes the way YOLOv2 did: k-means
    on (width, height) with distance 1 - IoU of the shapes placed on a common
    centre (`shape_iou`), so that large boxes do not dominate as they would with
    Euclidean distance. Each centre is the mean shape of its cluster.

    `boxes` is [N, 4] in `box_format`, or [N, 2] (width, height). Anchors come in
    the boxes' units (pixels, or relative for rel_ formats; YOLO wants them in
    grid cells: divide by the stride). k-means++ seeding; of `n_init` runs with
    seeds from `seed`, the one with the highest mean IoU of a box with its
    nearest anchor wins. Returns a float32 numpy array [k, 2] (width, height),
    smallest area first.
    """
    boxes = np.asarray(boxes, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] not in (2, 4):
        raise ValueError(f"anchors_from_boxes takes boxes [N, 4] or shapes [N, 2]; got shape {boxes.shape}.")
    if boxes.shape[1] == 4:
        fmt = _check_format(box_format).removeprefix("rel_")
        boxes = np.asarray(ops.convert_to_numpy(convert(boxes, fmt, "xywh")))[:, 2:]
    shapes = boxes
    bad = np.flatnonzero(~np.all(np.isfinite(shapes) & (shapes > 0), axis=1))
    if bad.size:
        raise ValueError(f"anchors_from_boxes: {bad.size} boxes have a width or height that is not positive "
                         f"(first: index {bad[0]}, shape {shapes[bad[0]].tolist()}); drop them first.")
    distinct = len(np.unique(shapes, axis=0))
    if not 1 <= int(k) <= distinct:
        raise ValueError(f"anchors_from_boxes: k={k} must be between 1 and the number of distinct box "
                         f"shapes ({distinct}).")
    runs = [_kmeans_iou(shapes, int(k), np.random.default_rng(seed + run), max_iter) for run in range(n_init)]
    anchors, _ = max(runs, key=lambda run: run[1])
    return anchors[np.argsort(anchors.prod(axis=1), kind="stable")].astype(np.float32)


def mean_best_iou(shapes, anchors):
    """Mean over boxes of the IoU with their best anchor (YOLOv2's "Avg IOU")."""
    return float(np.mean(np.max(ops.convert_to_numpy(shape_iou(shapes, anchors)), axis=1)))


def _kmeans_iou(shapes, k, rng, max_iter):
    """One k-means run on shapes [N, 2] with distance 1 - shape IoU; returns
    (centres [k, 2], mean best IoU)."""
    def similarity(centres):
        return np.asarray(ops.convert_to_numpy(shape_iou(shapes, centres)), np.float64)

    centres = shapes[[rng.integers(len(shapes))]]
    for _ in range(1, k):  # k-means++: next centre drawn with probability ~ distance^2
        distance = 1.0 - similarity(centres).max(axis=1)
        weights = np.maximum(distance, 0.0) ** 2
        centres = np.concatenate([centres, shapes[[rng.choice(len(shapes), p=weights / weights.sum())]]])
    assignment = None
    for _ in range(max_iter):
        sim = similarity(centres)
        new_assignment = sim.argmax(axis=1)
        if assignment is not None and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for j in range(k):
            members = shapes[assignment == j]
            if len(members):
                centres[j] = members.mean(axis=0)
            else:  # an empty cluster restarts at the box its centre fits worst
                centres[j] = shapes[sim.max(axis=1).argmin()]
    return centres, float(similarity(centres).max(axis=1).mean())


# --- evaluation -------------------------------------------------------------

# pycocotools' own parameters (COCOeval.Params.setDetParams), computed the same way.
COCO_IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
_RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
_AREA_RANGES = (("all", (0 ** 2, 1e5 ** 2)), ("small", (0 ** 2, 32 ** 2)), ("medium", (32 ** 2, 96 ** 2)),
                ("large", (96 ** 2, 1e5 ** 2)))
_MAX_DETECTIONS = (1, 10, 100)


def evaluate(predictions, ground_truth, *, box_format="xyxy", class_names=None, voc07=False):
    """COCO and VOC detection metrics of `predictions` against `ground_truth`.

    `predictions`: one dict per image, {"boxes": [n, 4], "scores": [n],
    "classes": [n]} (boxes in pixels, `box_format`); `ground_truth`: the same
    without scores, image for image. Returns a dict:

    - "AP" (mean over IoU 0.50:0.05:0.95), "AP50", "AP75", "AP_small",
      "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium",
      "AR_large": COCO's twelve numbers as pycocotools computes them (box area
      for the area ranges, at most 100 detections per image and class; 101
      recall points; a detection matches the best still unmatched box with
      IoU >= the threshold). A number with no ground truth to measure it is None.
    - "VOC_AP50": Pascal VOC's mean AP at IoU > 0.5, all-point interpolation
      (VOC2010 on): detections of a class ranked over all images, each matched to
      the box it overlaps most, a second match to a box counting as a false
      positive. Coordinates are continuous (the VOC devkit's "+1 pixel" is not
      used), and equal scores keep image order. `voc07=True` adds "VOC07_AP50",
      the 11-point rule of VOC2007.
    - "per_class": {class (its name when `class_names` is given): {"AP", "AP50",
      "AP75", "VOC_AP50"[, "VOC07_AP50"]}} for each class with ground truth.

    Means are over the classes that have ground truth; predicted classes with no
    ground truth count nowhere (as in pycocotools and the VOC devkit).
    """
    predictions, ground_truth = _check_eval_inputs(predictions, ground_truth, box_format)
    classes = sorted({int(c) for gt in ground_truth for c in gt["classes"]})
    if not classes:
        raise ValueError("evaluate: ground_truth holds no boxes, so AP is undefined.")
    precision, recall = _coco_accumulate(predictions, ground_truth, classes)

    def mean(values):
        values = values[values > -1]
        return float(np.mean(values)) if values.size else None

    thresholds = list(COCO_IOU_THRESHOLDS)
    at50, at75 = thresholds.index(0.5), thresholds.index(0.75)  # exact in pycocotools' linspace too
    result = {"AP": mean(precision[:, :, :, 0, 2]), "AP50": mean(precision[at50, :, :, 0, 2]),
              "AP75": mean(precision[at75, :, :, 0, 2])}
    for a, label in enumerate(("small", "medium", "large"), start=1):
        result[f"AP_{label}"] = mean(precision[:, :, :, a, 2])
    for m, max_det in enumerate(_MAX_DETECTIONS):
        result[f"AR{max_det}"] = mean(recall[:, :, 0, m])
    for a, label in enumerate(("small", "medium", "large"), start=1):
        result[f"AR_{label}"] = mean(recall[:, :, a, 2])

    rules = {"VOC_AP50": False, "VOC07_AP50": True} if voc07 else {"VOC_AP50": False}
    voc = {key: [_voc_ap(predictions, ground_truth, c, eleven_point) for c in classes]
           for key, eleven_point in rules.items()}
    for key, values in voc.items():
        result[key] = float(np.mean(values))
    per_class = {}
    for k, c in enumerate(classes):
        name = c if class_names is None else class_names[c]
        per_class[name] = {"AP": mean(precision[:, :, k, 0, 2]), "AP50": mean(precision[at50, :, k, 0, 2]),
                           "AP75": mean(precision[at75, :, k, 0, 2])}
        per_class[name].update({key: values[k] for key, values in voc.items()})
    result["per_class"] = per_class
    return result


def _check_eval_inputs(predictions, ground_truth, box_format):
    if len(predictions) != len(ground_truth):
        raise ValueError(f"evaluate: {len(predictions)} predictions for {len(ground_truth)} ground-truth "
                         "images; give one dict per image in each.")
    box_format = _check_format(box_format)
    if box_format.startswith("rel_"):
        raise ValueError(f"evaluate takes pixel boxes (COCO's area ranges are in pixels); got {box_format!r}.")

    def check(image, i, what, keys):
        if not isinstance(image, dict) or not set(keys) <= set(image):
            got = sorted(image) if isinstance(image, dict) else type(image).__name__
            raise ValueError(f"evaluate: {what}[{i}] must be a dict with keys {list(keys)}; got {got}.")
        boxes = np.asarray(image["boxes"], np.float64)
        boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"evaluate: {what}[{i}]['boxes'] must be [n, 4]; got shape {boxes.shape}.")
        if box_format != "xyxy":
            boxes = np.asarray(ops.convert_to_numpy(convert(boxes, box_format, "xyxy")), np.float64)
        out = {"boxes": boxes}
        for key in keys[1:]:
            values = np.asarray(image[key]).reshape(-1)
            if values.shape != (len(boxes),):
                raise ValueError(f"evaluate: {what}[{i}]['{key}'] has {values.size} values for "
                                 f"{len(boxes)} boxes.")
            out[key] = values.astype(np.float64 if key == "scores" else np.int64)
        if not np.all(np.isfinite(boxes)) or ("scores" in out and not np.all(np.isfinite(out["scores"]))):
            raise ValueError(f"evaluate: {what}[{i}] holds a NaN or infinite box or score.")
        return out

    predictions = [check(p, i, "predictions", ("boxes", "scores", "classes")) for i, p in enumerate(predictions)]
    ground_truth = [check(g, i, "ground_truth", ("boxes", "classes")) for i, g in enumerate(ground_truth)]
    return predictions, ground_truth


def _coco_iou(dt, gt):
    """[D, G] IoU of xyxy boxes computed as pycocotools' bbIou does (doubles,
    through x, y, w, h), so that ties at a threshold fall the same way."""
    dx, dy, dw, dh = dt[:, 0:1], dt[:, 1:2], dt[:, 2:3] - dt[:, 0:1], dt[:, 3:4] - dt[:, 1:2]
    gx, gy, gw, gh = gt[:, 0], gt[:, 1], gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    intersection = w * h
    union = dw * dh + gw * gh - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((w > 0) & (h > 0), intersection / union, 0.0)


def _area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _coco_match(dt_boxes, gt_boxes, area_range):
    """COCOeval.evaluateImg for one image, class and area range, the detections
    already ranked by score and cut to 100. Returns (matched [T, D],
    ignored [T, D], gt_ignored [G]), as booleans."""
    lo, hi = area_range
    gt_area = _area(gt_boxes)
    gt_ignored = (gt_area < lo) | (gt_area > hi)
    order = np.argsort(gt_ignored, kind="mergesort")  # boxes to count first, ignored ones after
    gt_boxes, gt_ignored = gt_boxes[order], gt_ignored[order]
    num_t, num_d, num_g = len(COCO_IOU_THRESHOLDS), len(dt_boxes), len(gt_boxes)
    matched = np.zeros((num_t, num_d), bool)
    ignored = np.zeros((num_t, num_d), bool)
    if num_d and num_g:
        ious = _coco_iou(dt_boxes, gt_boxes)
        gt_taken = np.zeros((num_t, num_g), bool)
        thresholds = np.minimum(COCO_IOU_THRESHOLDS, 1 - 1e-10)
        for d in np.flatnonzero(ious.max(axis=1) >= thresholds[0]):  # the others match nothing
            for t, threshold in enumerate(thresholds):
                # pycocotools' loop: the best free box at IoU >= threshold, the last one
                # on ties; a counted box wins over an ignored one.
                best, m = threshold, -1
                for g in range(num_g):
                    if gt_taken[t, g]:
                        continue
                    if m > -1 and not gt_ignored[m] and gt_ignored[g]:
                        break
                    if ious[d, g] < best:
                        continue
                    best, m = ious[d, g], g
                if m > -1:
                    ignored[t, d], matched[t, d], gt_taken[t, m] = gt_ignored[m], True, True
    dt_area = _area(dt_boxes)
    outside = (dt_area < lo) | (dt_area > hi)
    ignored |= ~matched & outside[None, :]
    return matched, ignored, gt_ignored


def _coco_accumulate(predictions, ground_truth, classes):
    """COCOeval.evaluate + accumulate: precision [T, R, K, A, M] and recall
    [T, K, A, M], -1 where a class has no ground truth to measure."""
    num_t, num_r = len(COCO_IOU_THRESHOLDS), len(_RECALL_THRESHOLDS)
    shape = (len(classes), len(_AREA_RANGES), len(_MAX_DETECTIONS))
    precision = -np.ones((num_t, num_r) + shape)
    recall = -np.ones((num_t,) + shape)
    for k, c in enumerate(classes):
        images = []
        for pred, gt in zip(predictions, ground_truth):
            mine = pred["classes"] == c
            scores, boxes = pred["scores"][mine], pred["boxes"][mine]
            rank = np.argsort(-scores, kind="mergesort")[:_MAX_DETECTIONS[-1]]
            gt_boxes = gt["boxes"][gt["classes"] == c]
            if len(rank) or len(gt_boxes):
                images.append((scores[rank], boxes[rank], gt_boxes))
        for a, (_, area_range) in enumerate(_AREA_RANGES):
            evaluated = [(scores,) + _coco_match(boxes, gt_boxes, area_range) for scores, boxes, gt_boxes in images]
            gt_ignored = np.concatenate([e[3] for e in evaluated])
            num_gt = np.count_nonzero(~gt_ignored)
            if num_gt == 0:
                continue
            for m, max_det in enumerate(_MAX_DETECTIONS):
                scores = np.concatenate([e[0][:max_det] for e in evaluated])
                rank = np.argsort(-scores, kind="mergesort")
                matched = np.concatenate([e[1][:, :max_det] for e in evaluated], axis=1)[:, rank]
                ignored = np.concatenate([e[2][:, :max_det] for e in evaluated], axis=1)[:, rank]
                tp = np.cumsum(matched & ~ignored, axis=1).astype(float)
                fp = np.cumsum(~matched & ~ignored, axis=1).astype(float)
                num_d = tp.shape[1]
                rc = tp / num_gt
                pr = tp / (fp + tp + np.spacing(1))
                recall[:, k, a, m] = rc[:, -1] if num_d else 0
                # precision made non-increasing from the right, read at each recall point
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                for t in range(num_t):
                    at = np.searchsorted(rc[t], _RECALL_THRESHOLDS, side="left")
                    precision[t, :, k, a, m] = np.where(at < num_d, pr[t, np.minimum(at, num_d - 1)], 0) \
                        if num_d else 0
    return precision, recall


def _voc_ap(predictions, ground_truth, c, eleven_point):
    """Pascal VOC AP50 of class `c` (the devkit's voc_eval and voc_ap)."""
    gt_boxes = [gt["boxes"][gt["classes"] == c] for gt in ground_truth]
    taken = [np.zeros(len(boxes), bool) for boxes in gt_boxes]
    num_gt = sum(len(boxes) for boxes in gt_boxes)
    image, scores, boxes = [], [], []
    for i, pred in enumerate(predictions):
        mine = pred["classes"] == c
        image += [i] * int(mine.sum())
        scores.append(pred["scores"][mine])
        boxes.append(pred["boxes"][mine])
    scores, boxes = np.concatenate(scores), np.concatenate(boxes).reshape(-1, 4)
    rank = np.argsort(-scores, kind="mergesort")
    tp = np.zeros(len(rank))
    for n, d in enumerate(rank):
        i = image[d]
        if len(gt_boxes[i]):
            overlaps = _coco_iou(boxes[d:d + 1], gt_boxes[i])[0]
            j = int(np.argmax(overlaps))
            if overlaps[j] > 0.5 and not taken[i][j]:
                tp[n], taken[i][j] = 1.0, True
    tp_sum, fp_sum = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = tp_sum / num_gt
    precision = tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps)
    if eleven_point:
        return float(np.mean([np.max(precision[recall >= t], initial=0.0) for t in np.arange(0.0, 1.1, 0.1)]))
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1]))


# --- YOLO grid encoding -------------------------------------------------------

def yolo_encode(boxes, classes, *, anchors, grid_size, image_size, box_format="xyxy"):
    """Training targets for a YOLO grid (YOLOv2's encoding) from one image's boxes.

    `boxes` [G, 4] in `box_format` (pixels, or relative), `classes` [G];
    `anchors` [B, 2] anchor (width, height) in grid cells (pixels / stride);
    `grid_size` (rows, columns); `image_size` (height, width) in pixels.
    Returns [rows, columns, B, 6]: for each (cell, anchor) slot holding a box,
    (x - column, y - row, log(w / anchor_w), log(h / anchor_h), 1, class), the
    box centre's offset in its cell and its size against the anchor, in grid
    units; zeros elsewhere. The model's (t_x, t_y, t_w, t_h, objectness) aim at
    these through sigmoid(t_xy), t_wh and sigmoid(objectness) (`yolo_decode`).

    A box goes to the cell holding its centre and, there, to the anchor whose
    shape has the highest IoU with it (`shape_iou`). Boxes are placed in the
    order given: one whose best anchor in its cell is taken goes to its
    next-best free anchor there, and when all B anchors of the cell are taken
    it is dropped (the course's "no good answer" case; more anchors or a finer
    grid avoid it). Boxes of zero width or height (padding, or cropped away)
    are skipped. Graph-safe: it runs in tf.data's `map`.
    """
    grid_h, grid_w = (int(s) for s in grid_size)
    height, width = (float(s) for s in image_size)
    anchors = tf.cast(tf.convert_to_tensor(anchors), tf.float32)
    num_anchors = anchors.shape[0]
    target_format = "rel_center_xywh" if is_relative(box_format) else "center_xywh"
    centre = tf.cast(tf.reshape(convert(boxes, box_format, target_format, image_size=image_size), [-1, 4]),
                     tf.float32)
    unit = (1.0, 1.0) if target_format.startswith("rel_") else (width, height)
    centre = centre * tf.constant([grid_w / unit[0], grid_h / unit[1]] * 2)  # in grid cells
    classes = tf.cast(tf.reshape(classes, [-1]), tf.float32)
    real = tf.logical_and(centre[:, 2] > 0, centre[:, 3] > 0)
    centre, classes = tf.boolean_mask(centre, real), tf.boolean_mask(classes, real)
    col = tf.clip_by_value(tf.cast(tf.floor(centre[:, 0]), tf.int32), 0, grid_w - 1)
    row = tf.clip_by_value(tf.cast(tf.floor(centre[:, 1]), tf.int32), 0, grid_h - 1)
    preference = tf.argsort(shape_iou(centre[:, 2:], anchors), axis=1, direction="DESCENDING", stable=True)
    preference = tf.cast(preference, tf.int32)
    # Unique weights make argmax pick the most preferred free anchor.
    first_wins = tf.range(num_anchors, 0, -1)

    def place(g, taken, chosen):
        free = tf.gather(taken[row[g], col[g]], preference[g]) == 0  # in order of preference
        pick = tf.argmax(tf.cast(free, tf.int32) * first_wins, output_type=tf.int32)
        anchor = tf.where(free[pick], preference[g, pick], -1)
        slot = tf.stack([row[g], col[g], tf.maximum(anchor, 0)])[None]
        taken = tf.tensor_scatter_nd_max(taken, slot, tf.cast(free[pick], tf.int32)[None])
        return g + 1, taken, chosen.write(g, anchor)

    count = tf.shape(centre)[0]
    _, _, chosen = tf.while_loop(
        lambda g, *_: g < count, place,
        (tf.constant(0), tf.zeros([grid_h, grid_w, num_anchors], tf.int32), tf.TensorArray(tf.int32, size=count)))
    anchor = chosen.stack()
    placed = anchor >= 0
    anchor, row, col = tf.boolean_mask(anchor, placed), tf.boolean_mask(row, placed), tf.boolean_mask(col, placed)
    centre, classes = tf.boolean_mask(centre, placed), tf.boolean_mask(classes, placed)
    cell = tf.cast(tf.stack([col, row], axis=1), tf.float32)
    values = tf.concat([centre[:, :2] - cell, tf.math.log(centre[:, 2:] / tf.gather(anchors, anchor)),
                        tf.ones_like(classes)[:, None], classes[:, None]], axis=1)
    return tf.scatter_nd(tf.stack([row, col, anchor], axis=1), values, [grid_h, grid_w, num_anchors, 6])


def yolo_decode(grid, *, anchors, image_size, from_logits=True):
    """Boxes and objectness from a YOLO grid [..., rows, columns, B, 5 + ...],
    whose last axis starts (t_x, t_y, t_w, t_h, objectness):

        b_xy = sigmoid(t_xy) + cell,  b_wh = anchor * exp(t_wh)   (grid units)

    `from_logits=False` reads `yolo_encode`'s targets, whose offsets and
    objectness are already past the sigmoid. Returns (boxes [..., rows,
    columns, B, 4] as xyxy pixels of an image of `image_size` (height, width),
    objectness [..., rows, columns, B]); class scores stay in grid[..., 5:].
    """
    grid = _floating(grid)
    grid_h, grid_w = ops.shape(grid)[-4], ops.shape(grid)[-3]
    cols, rows = ops.meshgrid(ops.arange(grid_w), ops.arange(grid_h))
    cell = ops.cast(ops.stack([cols, rows], axis=-1)[:, :, None, :], grid.dtype)  # [rows, columns, 1, (x, y)]
    offset, objectness = grid[..., 0:2], grid[..., 4]
    if from_logits:
        offset, objectness = ops.sigmoid(offset), ops.sigmoid(objectness)
    pixels_per_cell = ops.stack([image_size[1] / ops.cast(grid_w, grid.dtype),
                                 image_size[0] / ops.cast(grid_h, grid.dtype)])
    centre = (offset + cell) * pixels_per_cell
    size = ops.cast(anchors, grid.dtype) * ops.exp(grid[..., 2:4]) * pixels_per_cell
    return ops.concatenate([centre - size / 2, centre + size / 2], axis=-1), objectness
