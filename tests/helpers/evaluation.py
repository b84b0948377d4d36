"""Tiny data sets with known boxes and a tiny model for the evaluate tests (no downloads)."""

from __future__ import annotations

import math

import numpy as np
import torch
from helpers.models import TinyGapNet
from PIL import Image

from seewhy.datasets.base import Dataset, Sample, Truth
from seewhy.evaluate.truth import image_truth, measured_classes
from seewhy.explain import Explainer
from seewhy.localize import boxes as map_boxes
from seewhy.metrics import (
    average_drop_increase,
    box_accuracy,
    deletion,
    energy_pointing_game,
    insertion,
    localization_error,
    pointing_accuracy,
    pointing_game,
)
from seewhy.models import LoadedModel


def tiny_model(classes: int = 5, seed: int = 0, size: int = 32) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel.wrap(TinyGapNet(classes).eval(), name="tiny", input_size=size)


def picture(seed: int, width: int = 48, height: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def broken() -> Image.Image:
    raise OSError("truncated file")


def boxed_dataset(count: int = 7, grid_every: int = 3, bad: tuple[int, ...] = ()) -> Dataset:
    """``count`` random pictures of 48 x 40 px: a labelled box each (two on every
    ``grid_every``-th, a 'grid' with a mask on one object); the indices in ``bad`` fail to
    load."""
    samples = []
    for i in range(count):
        label = i % 5
        objects = [Truth(label, box=(4 + i, 3, 20 + i, 25))]
        kind = "photo"
        if grid_every and i % grid_every == 0:
            mask = np.zeros((40, 48), dtype=bool)
            mask[20:39, 24:47] = True
            objects.append(Truth((label + 1) % 5, box=(24, 20, 47, 39), mask=mask))
            kind = "grid"
        load = broken if i in bad else (lambda s=i: picture(s))
        samples.append(
            Sample(
                key=f"img{i:02d}.png",
                load=load,
                labels=tuple(dict.fromkeys(t.label for t in objects)),
                objects=tuple(objects),
                kind=kind,
            )
        )
    return Dataset("tiny", samples, [("notes.txt", "not an image")])


def direct(model, dataset, method, step=64, score="logit", batch=8):
    """Every metric of ``method`` computed by calling the measures functions on all pairs
    (deletion and insertion at ``step`` pixels per step). The maps are explained ``batch``
    images at a time, each image's targets its classes then its top-1 class, padded to the
    batch's longest list: the same maps as evaluate() makes with ``batch_size=batch``."""
    samples = [s for s in dataset.samples]
    images = [s.load() for s in samples]
    x = model.preprocess(images)
    with torch.no_grad():
        predictions = model.module(x).argmax(1).tolist()
    targets, chunks = [], []
    for first in range(0, len(samples), batch):
        rows = []
        for sample, predicted in zip(samples[first : first + batch], predictions[first:]):
            measured = measured_classes(sample)
            rows.append(measured + ([predicted] if predicted not in measured else []))
        width = max(len(t) for t in rows)
        rows = [t + [t[-1]] * (width - len(t)) for t in rows]
        explained = Explainer(model, batch_size=batch).explain(
            x[first : first + batch], [method], rows, score=score, progress=False
        )
        targets += rows
        chunks += list(explained.maps[method])
    maps = chunks  # per image: (T, H, W)
    pairs = []  # (row, class, mask, boxes, grid, map)
    truths = [image_truth(s, model.geometry(*im.size)) for s, im in zip(samples, images)]
    for b, (sample, truth) in enumerate(zip(samples, truths)):
        for label in measured_classes(sample):
            pairs.append(
                (b, label, truth.masks[label], truth.boxes[label], sample.kind == "grid",
                 maps[b][targets[b].index(label)])
            )  # fmt: skip
    rows = torch.tensor([p[0] for p in pairs])
    classes = torch.tensor([p[1] for p in pairs])
    pair_maps = torch.stack([p[5] for p in pairs])
    masks = np.stack([p[2] for p in pairs])
    grid = np.array([p[4] for p in pairs])
    hits = pointing_game(pair_maps, masks)
    energy = energy_pointing_game(pair_maps, masks)
    located = [
        {predictions[b]: map_boxes(maps[b][targets[b].index(predictions[b])])}
        for b in range(len(samples))
    ]
    truth_boxes = [{k: v for k, v in t.boxes.items() if k >= 0} for t in truths]
    dropped = average_drop_increase(model, x[rows], pair_maps, classes)
    return {
        "pointing": pointing_accuracy(hits, classes.numpy()),
        "energy_pointing": math.fsum(energy) / len(energy),
        "grid_pointing": math.fsum(energy[grid]) / grid.sum(),
        "box_accuracy": box_accuracy(pair_maps, [p[3] for p in pairs]).mean,
        "localization_error": localization_error(located, truth_boxes, topk=(1,))[1],
        "deletion": float(np.mean(deletion(model, x[rows], pair_maps, classes, pixels_per_step=step).auc)),
        "insertion": float(np.mean(insertion(model, x[rows], pair_maps, classes, pixels_per_step=step).auc)),
        "average_drop": dropped.drop,
        "average_increase": dropped.increase,
    }  # fmt: skip
