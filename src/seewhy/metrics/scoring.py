"""The one way the metrics run a model: target probabilities of batches of copies.

The metrics that perturb images (deletion / insertion, average drop, ROAD) hand the model
copies of the images, many per forward, and read the softmax probability of each copy's
target class. :func:`score_copies` is that narrow interface: it enters one
:func:`~seewhy.engine.passes.model_pass` for the whole run (the model frozen, in eval mode,
its BatchNorms folded with ``fast``, and left exactly as found on exit), runs the copies in
batches without gradients and shows a progress bar for long runs.

On the CPU each batch is split between :data:`FORWARD_WORKERS` threads, each running its
part with its share of torch's threads (2 cores: two forwards of 4 copies on one thread
each, side by side, instead of one forward of 8 on two threads), while the calling thread
makes the next batch. The convolutions of a small network use two threads poorly: measured
on the bundled EfficientNet-Lite0 at 224 px, 18.3 ms per copy against 22.8 ms (median of 5
alternating runs, ``torch.set_num_threads(2)``). The scores are the same function of the
copies (a forward of 4 copies may round differently from one of 8, as any batch size does);
torch's thread count is left as found. Set ``FORWARD_WORKERS = 1`` for a model whose forward
must not run in two threads at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import torch
from torch import nn

from seewhy.engine import model_pass
from seewhy.engine.targets import plain_targets
from seewhy.errors import OptionError
from seewhy.methods.ops import auto_batch_size, check_batch_size, spans, work_bar
from seewhy.models import LoadedModel

#: Copies ``(images (B, C, H, W), targets (B,))`` for the copies ``start..stop-1``.
MakeCopies = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]

#: Threads that share each batch's forwards on the CPU (see the module); 1 runs one forward
#: per batch on all of torch's threads.
FORWARD_WORKERS = 2
#: Copies each worker gets at least: smaller batches run whole (splitting them gains nothing).
SPLIT_FROM = 4


class Scored(Protocol):
    """What a metric needs of a model (a :class:`~seewhy.models.LoadedModel` has it)."""

    module: nn.Module

    def select_output(self, raw: object) -> torch.Tensor: ...


def as_model(model: nn.Module | Scored) -> Scored:
    """A :class:`~seewhy.models.LoadedModel` (or anything with ``module`` and
    ``select_output``) as it is; a bare module as ``LoadedModel.wrap(module)`` reads it
    (its output taken as the class scores; ImageNet's mean and std, where a metric needs
    the pixel space)."""
    if isinstance(model, nn.Module):
        return LoadedModel.wrap(model)
    if isinstance(getattr(model, "module", None), nn.Module) and hasattr(model, "select_output"):
        return model
    raise OptionError(
        f"model must be an nn.Module or a seewhy.LoadedModel, got {type(model).__name__}"
    )


def channel_stats(model: Scored, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's per-channel (mean, std), each (channels, 1, 1), from its ``mean``/``std``
    (a :class:`~seewhy.models.LoadedModel`'s, ImageNet's for a bare module)."""
    mean = torch.as_tensor(getattr(model, "mean", LoadedModel.mean), dtype=torch.float32)
    std = torch.as_tensor(getattr(model, "std", LoadedModel.std), dtype=torch.float32)
    if mean.numel() != channels or std.numel() != channels:
        raise OptionError(
            f"the model's mean and std have {mean.numel()} and {std.numel()} entries, the "
            f"images {channels} channels; pass a LoadedModel with matching mean= and std="
        )
    return mean.view(-1, 1, 1), std.view(-1, 1, 1)


def score_copies(
    model: Scored,
    make: MakeCopies,
    count: int,
    example: torch.Tensor,
    *,
    batch_size: int | None,
    fast: bool,
    desc: str,
    progress: bool | None,
) -> torch.Tensor:
    """(count,) float64: the softmax probability of its target for each copy ``make`` gives.

    The copies run in as few batches as ``batch_size`` allows (None: about 8 images of
    224 x 224 per batch, :func:`~seewhy.methods.ops.auto_batch_size` of ``example``, one
    image), all inside one model pass; on the CPU each batch of at least ``2 *``
    :data:`SPLIT_FROM` copies is split between :data:`FORWARD_WORKERS` threads (see the
    module).
    """
    check_batch_size(batch_size)
    size = auto_batch_size(example, batch_size)
    scores = torch.empty(count, dtype=torch.float64)
    module = model.module
    threads = torch.get_num_threads()
    workers = min(FORWARD_WORKERS, threads, size // SPLIT_FROM)
    workers = max(1, workers) if example.device.type == "cpu" else 1
    share = max(1, threads // workers)
    with (
        model_pass(module, fast=fast, in_place_off=False) as run,
        work_bar(count, desc, progress) as bar,
        ThreadPoolExecutor(workers, thread_name_prefix="seewhy-forward") as pool,
    ):

        def score(copies: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            # each worker's share, set in the worker: process-wide in torch's usual builds,
            # per thread where the OpenMP runtime keeps it so (put back at the end)
            torch.set_num_threads(share)
            with torch.no_grad():
                _, raw = run.forward(copies, requires_grad=False)
            logits = model.select_output(raw).float()
            if logits.dim() != 2:
                raise OptionError(
                    f"the metrics need (B, classes) scores, the model gave {tuple(logits.shape)}"
                )
            probabilities = logits.softmax(dim=1)
            if int(targets.max()) >= probabilities.shape[1]:
                raise OptionError(
                    f"target class {int(targets.max())} is out of range: the model has "
                    f"{probabilities.shape[1]} classes (0-{probabilities.shape[1] - 1})"
                )
            rows = torch.arange(copies.shape[0], device=probabilities.device)
            return probabilities[rows, targets.to(probabilities.device)].double().cpu()

        pending: deque[tuple[int, int, Future[torch.Tensor]]] = deque()

        def collect() -> None:
            start, stop, part = pending.popleft()
            scores[start:stop] = part.result()
            bar.update(stop - start)

        try:
            for start, stop in spans(count, size):
                with torch.no_grad():
                    copies, targets = make(start, stop)
                for a, b in spans(stop - start, -(-(stop - start) // workers)):
                    part = pool.submit(score, copies[a:b], targets[a:b])
                    pending.append((start + a, start + b, part))
                while len(pending) > workers:  # one batch in flight while the next is made
                    collect()
            while pending:
                collect()
        finally:
            for _, _, part in pending:
                part.cancel()
            torch.set_num_threads(threads)  # the caller's setting
    return scores


def check_inputs(
    images: torch.Tensor, maps: torch.Tensor | None, targets: object, name: str = "images"
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``images`` (N, C, H, W) float, ``maps`` (N, H, W) float32 on the images' device and
    ``targets`` (N,) int64 (or None), or an OptionError saying what is wrong."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise OptionError(f"{name} must be a preprocessed (N, C, H, W) tensor, got {shape}")
    n, _, h, w = images.shape
    if n == 0:
        raise OptionError(f"{name} holds no image (its batch dimension is 0)")
    if not images.is_floating_point():
        raise OptionError(
            f"{name} must be preprocessed floats (the model's input), got {images.dtype}: "
            "pass model.preprocess(images)"
        )
    if maps is not None:
        maps = torch.as_tensor(maps)
        if maps.dim() == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        if tuple(maps.shape) != (n, h, w):
            raise OptionError(
                f"maps must be (N, H, W) = {(n, h, w)} at the images' resolution, got "
                f"{tuple(maps.shape)} (upsample them with res.maps[method])"
            )
        maps = maps.detach().to(images.device, torch.float32)
    if targets is None:
        return images.detach(), maps, None
    wrong = OptionError(
        f"targets must be {n} class ids (one per image) or one for all, each an int >= 0; "
        f"got {targets!r}"
    )
    try:
        tensor = torch.as_tensor(plain_targets(targets)).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as error:  # names, None, ragged lists
        raise wrong from error
    if tensor.numel() == 1 and n > 1:
        tensor = tensor.expand(n)
    if tensor.numel() != n or tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise wrong
    if (tensor < 0).any():  # an int, but negative: it would index from the last class
        raise wrong
    return images.detach(), maps, tensor.to(images.device, torch.int64)


def map_inputs(
    model: nn.Module | Scored, images: torch.Tensor, maps: torch.Tensor, targets: object
) -> tuple[Scored, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """What every metric of a map starts from: the model as :func:`as_model` reads it and
    the images, maps and targets :func:`check_inputs` checks (targets None: not given)."""
    images, checked, wanted = check_inputs(images, maps, targets)
    assert checked is not None  # maps were given
    return as_model(model), images, checked, wanted


def top_classes(
    model: Scored, images: torch.Tensor, *, batch_size: int | None, fast: bool
) -> torch.Tensor:
    """(N,) the model's top-1 class of each image (the targets where none are given)."""
    check_batch_size(batch_size)
    size = auto_batch_size(images, batch_size)
    found = []
    with model_pass(model.module, fast=fast, in_place_off=False) as run, torch.no_grad():
        for start, stop in spans(images.shape[0], size):
            _, raw = run.forward(images[start:stop], requires_grad=False)
            found.append(model.select_output(raw).argmax(dim=1).to(images.device))
    return torch.cat(found)
