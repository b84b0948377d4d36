"""Labelled image sets for ``seewhy evaluate``: class folders, Pascal VOC / ImageNet XML
boxes, COCO instances JSON, CSV / JSON box tables, and the built-in ``samples`` benchmark.

Every reader returns a :class:`~seewhy.datasets.base.Dataset` (see ``base.py``): a list of
:class:`~seewhy.datasets.base.Sample` with a stable ``key`` per image, the image's classes,
boxes and masks in the image's own pixel coordinates, and the files that were skipped.

>>> from seewhy.datasets import open_dataset
>>> data = open_dataset("samples", labels=None, limit=4)
>>> [s.kind for s in data.samples]
['grid', 'pasted', 'grid', 'pasted']
"""

from __future__ import annotations

from seewhy.datasets.base import Dataset, Sample, Truth
from seewhy.datasets.classes import ClassNames, imagenet_synsets, read_class_map
from seewhy.datasets.open import open_dataset
from seewhy.errors import DataError

__all__ = [
    "ClassNames",
    "DataError",
    "Dataset",
    "Sample",
    "Truth",
    "imagenet_synsets",
    "open_dataset",
    "read_class_map",
]
