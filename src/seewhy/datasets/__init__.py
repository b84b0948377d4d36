"""Labelled image sets for ``seewhy evaluate``: class folders, Pascal VOC / ImageNet XML
boxes, COCO instances JSON, CSV / JSON box tables, and the built-in ``samples`` benchmark.

Every reader returns a :class:`~seewhy.datasets.base.Dataset` (see ``base.py``): a list of
:class:`~seewhy.datasets.base.Sample` with a stable ``key`` per image, the image's classes,
boxes and masks in the image's own pixel coordinates, and the files that were skipped.
"""

from __future__ import annotations

from seewhy.datasets.base import Dataset, Sample, Truth

__all__ = ["Dataset", "Sample", "Truth"]
