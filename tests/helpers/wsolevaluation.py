"""The reference for seewhy.metrics.localization: wsolevaluation's box and mask scores.

Copied from clovaai/wsolevaluation (commit 96f4b88, ``evaluation.py`` and ``inference.py``;
MIT licence, Copyright (c) 2020-present NAVER Corp.), trimmed to what runs on arrays: the
data-set loading is gone, ``np.float`` is ``np.float64``, the prints are dropped. The logic
of ``normalize_scoremap``, ``calculate_multiple_iou``, ``compute_bboxes_from_scoremaps``,
``BoxEvaluator.accumulate/compute`` and ``MaskEvaluator.accumulate/compute`` is unchanged.
Needs OpenCV (``cv2``), which the tests import only where it is installed.
"""

from __future__ import annotations

import numpy as np


def normalize_scoremap(cam):
    if np.isnan(cam).any():
        return np.zeros_like(cam)
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def calculate_multiple_iou(box_a, box_b):
    num_a = box_a.shape[0]
    num_b = box_b.shape[0]
    box_a = np.tile(box_a, num_b)
    box_a = np.expand_dims(box_a, axis=1).reshape((num_a, num_b, -1))
    box_b = np.tile(box_b, num_a)
    box_b = np.expand_dims(box_b, axis=1).reshape((num_b, num_a, -1))
    box_b = np.transpose(box_b, (1, 0, 2))
    min_x = np.maximum(box_a[:, :, 0], box_b[:, :, 0])
    min_y = np.maximum(box_a[:, :, 1], box_b[:, :, 1])
    max_x = np.minimum(box_a[:, :, 2], box_b[:, :, 2])
    max_y = np.minimum(box_a[:, :, 3], box_b[:, :, 3])
    area_intersect = np.maximum(0, max_x - min_x + 1) * np.maximum(0, max_y - min_y + 1)
    area_a = (box_a[:, :, 2] - box_a[:, :, 0] + 1) * (box_a[:, :, 3] - box_a[:, :, 1] + 1)
    area_b = (box_b[:, :, 2] - box_b[:, :, 0] + 1) * (box_b[:, :, 3] - box_b[:, :, 1] + 1)
    denominator = area_a + area_b - area_intersect
    degenerate_indices = np.where(denominator <= 0)
    denominator[degenerate_indices] = 1
    ious = area_intersect / denominator
    ious[degenerate_indices] = 0
    return ious


def compute_bboxes_from_scoremaps(scoremap, scoremap_threshold_list, multi_contour_eval=False):
    import cv2

    contour_index = 1 if cv2.__version__.split(".")[0] == "3" else 0
    height, width = scoremap.shape
    scoremap_image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)

    def scoremap2bbox(threshold):
        _, thr_gray_heatmap = cv2.threshold(
            src=scoremap_image,
            thresh=int(threshold * np.max(scoremap_image)),
            maxval=255,
            type=cv2.THRESH_BINARY,
        )
        contours = cv2.findContours(
            image=thr_gray_heatmap, mode=cv2.RETR_TREE, method=cv2.CHAIN_APPROX_SIMPLE
        )[contour_index]
        if len(contours) == 0:
            return np.asarray([[0, 0, 0, 0]]), 1
        if not multi_contour_eval:
            contours = [max(contours, key=cv2.contourArea)]
        estimated_boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            x0, y0, x1, y1 = x, y, x + w, y + h
            x1 = min(x1, width - 1)
            y1 = min(y1, height - 1)
            estimated_boxes.append([x0, y0, x1, y1])
        return np.asarray(estimated_boxes), len(contours)

    estimated_boxes_at_each_thr = []
    number_of_box_list = []
    for threshold in scoremap_threshold_list:
        boxes, number_of_box = scoremap2bbox(threshold)
        estimated_boxes_at_each_thr.append(boxes)
        number_of_box_list.append(number_of_box)
    return estimated_boxes_at_each_thr, number_of_box_list


def max_box_acc(scoremaps, gt_boxes, cam_threshold_list, iou_threshold_list, multi_contour_eval):
    """BoxEvaluator: accumulate each (already normalized) scoremap, then compute (percent).

    Returns the per-IoU accuracies at every map threshold (``compute`` takes their max)."""
    num_correct = {t: np.zeros(len(cam_threshold_list)) for t in iou_threshold_list}
    cnt = 0
    for scoremap, gt in zip(scoremaps, gt_boxes):
        boxes_at_thresholds, number_of_box_list = compute_bboxes_from_scoremaps(
            scoremap, cam_threshold_list, multi_contour_eval
        )
        boxes_at_thresholds = np.concatenate(boxes_at_thresholds, axis=0)
        multiple_iou = calculate_multiple_iou(np.array(boxes_at_thresholds), np.array(gt))
        idx = 0
        sliced_multiple_iou = []
        for nr_box in number_of_box_list:
            sliced_multiple_iou.append(max(multiple_iou.max(1)[idx : idx + nr_box]))
            idx += nr_box
        for threshold in iou_threshold_list:
            correct = np.where(np.asarray(sliced_multiple_iou) >= (threshold / 100))[0]
            num_correct[threshold][correct] += 1
        cnt += 1
    return [num_correct[t] * 100.0 / float(cnt) for t in iou_threshold_list]


def mask_auc(scoremaps, gt_masks, cam_threshold_list):
    """MaskEvaluator: masks hold 1 (object), 0 (background), 255 (ignored); percent."""
    threshold_list_right_edge = np.append(cam_threshold_list, [1.0, 2.0, 3.0])
    num_bins = len(cam_threshold_list) + 2
    gt_true_score_hist = np.zeros(num_bins, dtype=np.float64)
    gt_false_score_hist = np.zeros(num_bins, dtype=np.float64)
    for scoremap, gt_mask in zip(scoremaps, gt_masks):
        gt_true_hist, _ = np.histogram(scoremap[gt_mask == 1], bins=threshold_list_right_edge)
        gt_true_score_hist += gt_true_hist.astype(np.float64)
        gt_false_hist, _ = np.histogram(scoremap[gt_mask == 0], bins=threshold_list_right_edge)
        gt_false_score_hist += gt_false_hist.astype(np.float64)
    num_gt_true = gt_true_score_hist.sum()
    tp = gt_true_score_hist[::-1].cumsum()
    fn = num_gt_true - tp
    fp = gt_false_score_hist[::-1].cumsum()
    non_zero_indices = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    auc = (precision[1:] * np.diff(recall))[non_zero_indices[1:]].sum()
    return auc * 100
