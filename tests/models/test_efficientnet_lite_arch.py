"""The bundled EfficientNet-Lite network is timm's ``tf_efficientnet_lite{0,1,2}``, module for
module, and ``seewhy`` runs it without importing timm."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from seewhy.models.efficientnet_lite import INPUT_SIZES, weights_file
from seewhy.models.efficientnet_lite_arch import efficientnet_lite

timm = pytest.importorskip("timm")


def _tree(module: torch.nn.Module) -> list[tuple[str, str]]:
    return [(name, type(m).__name__) for name, m in module.named_modules()]


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_module_tree_and_state_dict_match_timm(variant: int) -> None:
    ours = efficientnet_lite(variant)
    theirs = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    assert _tree(ours) == _tree(theirs)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference)
    assert all(mine[k].shape == reference[k].shape for k in mine)
    for a, b in zip(ours.modules(), theirs.modules()):
        if isinstance(a, torch.nn.Conv2d):
            assert (a.stride, a.padding, a.groups) == (b.stride, b.padding, b.groups)
        if isinstance(a, torch.nn.BatchNorm2d):
            assert a.eps == b.eps
        if isinstance(a, torch.nn.ReLU6):
            assert a.inplace == b.inplace


@pytest.mark.parametrize("variant", [0, 2])
def test_bundled_weights_give_timms_outputs(variant: int) -> None:
    ours = efficientnet_lite(variant)
    theirs = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False).eval()
    state = torch.load(weights_file(variant), map_location="cpu", weights_only=True)
    for model in (ours, theirs):
        values = list(state.values())
        model.load_state_dict(dict(zip(model.state_dict(), values)))
    size = INPUT_SIZES[variant]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(variant))
    # an odd size exercises the asymmetric "same" padding
    odd = torch.randn(1, 3, size + 3, size - 5, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        for inputs in (x, odd):
            torch.testing.assert_close(ours(inputs), theirs(inputs), rtol=0, atol=1e-5)


def test_loading_a_bundled_model_does_not_import_timm() -> None:
    code = (
        "import sys, seewhy; m = seewhy.load_model('efficientnet_lite0'); "
        "print(sorted(k for k in ('timm', 'torchvision') if k in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="0, 1 or 2, got 3"):
        efficientnet_lite(3)
