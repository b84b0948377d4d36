"""Leave the user's model as it was found, on every path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.utils.hooks import RemovableHandle


@contextmanager
def preserved(module: nn.Module, *, eval_mode: bool = True) -> Iterator[list[RemovableHandle]]:
    """Run a block with the model frozen, in eval mode and without in-place activations.

    Inside the block every parameter has ``requires_grad=False`` (so autograd builds no graph
    for the weights), every module is in eval mode and every ``inplace`` flag is off. The
    yielded list collects hook handles. On exit, exceptions included, the hooks are removed
    and each module's mode, each parameter's ``requires_grad`` and ``.grad`` and each
    ``inplace`` flag are put back exactly.
    """
    training = {m: m.training for m in module.modules()}
    requires_grad = {p: p.requires_grad for p in module.parameters()}
    grads = {p: p.grad for p in module.parameters()}
    inplace = {
        m: m.inplace for m in module.modules() if isinstance(getattr(m, "inplace", None), bool)
    }
    handles: list[RemovableHandle] = []
    try:
        for parameter in requires_grad:
            parameter.requires_grad_(False)
        for m in inplace:
            m.inplace = False
        if eval_mode:
            module.eval()
        yield handles
    finally:
        for handle in handles:
            handle.remove()
        handles.clear()
        for m, flag in training.items():
            m.training = flag
        for parameter, flag in requires_grad.items():
            parameter.requires_grad_(flag)
            parameter.grad = grads[parameter]
        for m, flag in inplace.items():
            m.inplace = flag
