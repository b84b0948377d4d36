"""The set-up of every pass over a model: guard, BatchNorm fold, channels-last.

:func:`model_pass` is the one place the fast path is decided. Inside it the model is frozen,
in eval mode and restored on every path (:func:`~seewhy.engine.guard.preserved`); with
``fast`` each eval-mode BatchNorm is folded into the convolution before it
(:func:`~seewhy.engine.fold.fold_batchnorm`, the ``keep`` layers' own pairs excepted, so
their outputs are the model's) and the images run channels-last on the CPU
(:func:`~seewhy.engine.layout.forward_in_layout`): the same function, rounded differently,
and cheaper (``bench/engine.py``). ``fast=False`` runs the model exactly as given. The
explanation passes (:class:`~seewhy.engine.runner.Runner`), the perturbation forwards and
activation maximization (:mod:`seewhy.synthesis`) all run through it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from seewhy.engine.fold import fold_batchnorm
from seewhy.engine.guard import Removable, preserved
from seewhy.engine.inputs import NO_ARGS, ForwardArgs
from seewhy.engine.layers import get_module
from seewhy.engine.layout import forward_in_layout, forward_input

Hook = Callable[[nn.Module, object, object], object]


class Pass:
    """A model set up for one pass: its forwards, and where hooks go (removed on exit)."""

    def __init__(self, module: nn.Module, handles: list[Removable], fast: bool) -> None:
        self.module = module
        self.handles = handles
        self.fast = fast

    def hook(self, layer: str, hook: Hook) -> None:
        """A forward hook on ``layer`` for the rest of the pass."""
        self.handles.append(get_module(self.module, layer).register_forward_hook(hook))

    def forward(
        self,
        inputs: torch.Tensor,
        *,
        requires_grad: bool = True,
        before_retry: Callable[[], None] | None = None,
        extra: ForwardArgs = NO_ARGS,
    ) -> tuple[torch.Tensor, object]:
        """``(x, module(x, *extra))`` for a leaf copy ``x`` of ``inputs`` that requires grad
        (or not: ``requires_grad=False``, for forwards without gradients); see
        :func:`~seewhy.engine.layout.forward_input`."""
        return forward_input(
            self.module,
            inputs,
            channels_last=self.fast,
            requires_grad=requires_grad,
            before_retry=before_retry,
            extra=extra,
        )

    def forward_made(
        self,
        make: Callable[[torch.memory_format], torch.Tensor],
        example: torch.Tensor,
        *,
        before_retry: Callable[[], None] | None = None,
    ) -> tuple[torch.Tensor, object]:
        """``(x, module(x))`` with ``x = make(layout)``, for inputs that must stay in the graph
        (activation maximization differentiates to the image's parameters); ``example`` is
        shaped like ``x``."""
        return forward_in_layout(
            self.module, example, make, channels_last=self.fast, before_retry=before_retry
        )


@contextmanager
def model_pass(
    module: nn.Module,
    *,
    fast: bool,
    keep: Collection[str] = (),
    patches: Callable[[nn.Module], list[Removable]] | None = None,
    in_place_off: bool = True,
) -> Iterator[Pass]:
    """Set ``module`` up for a pass and put it back as found on exit.

    ``patches`` installs instance-level forwards first (the backward rules of
    :mod:`~seewhy.engine.backprop`); then, with ``fast``, the BatchNorms are folded, before
    any hook of the pass goes on (the fold's one trace of the model is never made while the
    model has hooks). ``in_place_off=False`` leaves the model's in-place flags alone, for
    passes without a graph or whose graph starts at a cloned layer output.
    """
    with preserved(module, in_place_off=in_place_off) as handles:
        if patches is not None:
            handles.extend(patches(module))
        if fast:
            handles.extend(fold_batchnorm(module, keep=keep))
        yield Pass(module, handles, fast)
