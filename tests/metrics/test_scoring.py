"""score_copies: batches shared between forward threads give the one-thread scores."""

from __future__ import annotations

import importlib
import threading

import pytest
import torch
from helpers.models import TinyGapNet
from torch import nn

from seewhy.models import LoadedModel

scoring = importlib.import_module("seewhy.metrics.scoring")


def copies_of(images: torch.Tensor, targets: torch.Tensor, made: list[tuple[int, int]]):
    def make(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        made.append((start, stop))
        index = torch.arange(start, stop) % images.shape[0]
        return images[index] * (1 + torch.arange(start, stop).view(-1, 1, 1, 1) / 10), targets[
            index
        ]

    return make


def run(model: nn.Module, workers: int, count: int = 21, batch_size: int = 9, monkeypatch=None):
    monkeypatch.setattr(scoring, "FORWARD_WORKERS", workers)
    images = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 3, 4])
    made: list[tuple[int, int]] = []
    scores = scoring.score_copies(
        LoadedModel.wrap(model),
        copies_of(images, targets, made),
        count,
        images[:1],
        batch_size=batch_size,
        fast=False,
        desc="test",
        progress=False,
    )
    return scores, made, images, targets


def test_forward_threads_give_the_scores_of_one_forward_per_batch(monkeypatch) -> None:
    torch.manual_seed(0)
    model = TinyGapNet().eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one, made_one, images, targets = run(model, 1, monkeypatch=monkeypatch)
        two, made_two, _, _ = run(model, 2, monkeypatch=monkeypatch)
        assert torch.get_num_threads() == 2  # left as found
    finally:
        torch.set_num_threads(threads)
    assert made_one == made_two == [(0, 7), (7, 14), (14, 21)]  # spans(21, 9), each made once
    torch.testing.assert_close(two, one, rtol=0, atol=1e-6)
    index = torch.arange(21) % 3
    x = images[index] * (1 + torch.arange(21).view(-1, 1, 1, 1) / 10)
    with torch.no_grad():
        expected = model(x).softmax(1)[torch.arange(21), targets[index]].double()
    torch.testing.assert_close(one, expected, rtol=0, atol=1e-6)


class Recording(TinyGapNet):
    """Notes the thread of every forward; fails on a batch whose first value is negative
    when ``fail`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.names.append(threading.current_thread().name)
        if self.fail:
            raise ValueError("broken forward")
        return super().forward(x)


def test_forwards_run_on_the_worker_threads_and_their_errors_reach_the_caller(
    monkeypatch,
) -> None:
    torch.manual_seed(0)
    model = Recording().eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run(model, 2, monkeypatch=monkeypatch)
        # each batch of 7 copies split in two forwards, on the pool's threads
        assert len(model.names) == 6
        assert all(name.startswith("seewhy-forward") for name in model.names)
        model.fail = True
        with pytest.raises(ValueError, match="broken forward"):
            run(model, 2, monkeypatch=monkeypatch)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert not [t for t in threading.enumerate() if t.name.startswith("seewhy-forward")]
    assert not model.training  # the model pass put it back as found


def test_small_batches_run_whole_with_the_callers_threads(monkeypatch) -> None:
    model = Recording().eval()
    seen = []
    model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run(model, 2, count=12, batch_size=7, monkeypatch=monkeypatch)  # 7 // SPLIT_FROM
    finally:
        torch.set_num_threads(threads)
    assert len(model.names) == 2 and seen == [1, 1]
