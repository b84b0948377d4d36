"""``seewhy.metrics.randomize``: the steps of the randomisation test and how weights are drawn."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seewhy.errors import LayerError, OptionError
from seewhy.metrics import randomize, sanity_layers
from seewhy.metrics.randomize import restore, snapshot_step, steps_of
from seewhy.models import load_model


class Stem(nn.Module):
    """conv + BN, a ReLU stage in a Sequential, a parameter-free pool and a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.stage = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stage(self.bn(self.conv(x)))).flatten(1))


def test_steps_go_from_the_output_down_with_each_norm_beside_its_conv() -> None:
    assert sanity_layers(Stem()) == [("fc",), ("stage.1",), ("conv", "bn")]


def test_lite0_steps_are_its_head_stages_and_stem() -> None:
    module = load_model("efficientnet_lite0", "random").module
    assert sanity_layers(module) == [
        ("classifier",),
        ("conv_head", "bn2"),
        *[(f"blocks.{k}",) for k in range(6, -1, -1)],
        ("conv_stem", "bn1"),
    ]


def test_layers_argument_is_checked() -> None:
    model = Stem()
    assert steps_of(model, ["fc", ["stage.1", "bn"]]) == [("fc",), ("stage.1", "bn")]
    assert steps_of(model, "fc") == [("fc",)]
    with pytest.raises(LayerError, match="no layer named 'fcc'.*Did you mean 'fc'"):
        steps_of(model, ["fcc"])
    with pytest.raises(LayerError, match="'pool' has no parameters"):
        steps_of(model, ["pool"])
    with pytest.raises(LayerError, match="no layer to randomise"):
        steps_of(model, [])
    for twice in (["fc", "fc"], ["fc", ["stage.1", "fc"]], [["bn", "bn"]]):
        with pytest.raises(LayerError, match="is named twice in layers="):
            steps_of(model, twice)


def test_norm_layers_return_to_scale_one_and_shift_zero_keeping_their_statistics() -> None:
    model = Stem()
    with torch.no_grad():
        model.bn.weight.fill_(3.0)
        model.bn.bias.fill_(2.0)
        model.bn.running_mean.fill_(5.0)
        model.bn.running_var.fill_(7.0)
    randomize(model, ("conv", "bn"), generator=torch.Generator().manual_seed(0))
    assert model.bn.weight.tolist() == [1.0] * 4 and model.bn.bias.tolist() == [0.0] * 4
    assert model.bn.running_mean.tolist() == [5.0] * 4
    assert model.bn.running_var.tolist() == [7.0] * 4


def test_normal_draws_keep_each_tensors_scale_within_two_deviations() -> None:
    layer = nn.Linear(400, 300)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.05)
        layer.bias.fill_(0.25)  # all equal: no spread to keep
    trained = layer.weight.detach().clone()
    holder = nn.Sequential(layer)
    randomize(holder, ("0",), generator=torch.Generator().manual_seed(0))
    std = float(trained.std())
    assert layer.weight.abs().max() <= 2 * std
    # a normal cut at 2 sigma has a standard deviation of 0.880 sigma
    assert float(layer.weight.detach().std()) == pytest.approx(0.880 * std, rel=0.02)
    assert float(layer.weight.detach().mean()) == pytest.approx(0.0, abs=0.01 * std)
    assert layer.bias.tolist() == [0.0] * 300
    assert not torch.allclose(layer.weight, trained)


def test_draws_are_seeded_and_reset_leaves_the_global_random_state() -> None:
    def drawn(init: str, seed: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = Stem()
        randomize(
            model, ("fc", "stage.1"), init=init, generator=torch.Generator().manual_seed(seed)
        )
        return torch.cat([model.fc.weight.flatten(), model.stage[1].weight.flatten()])

    for init in ("normal", "reset"):
        assert torch.equal(drawn(init, 3), drawn(init, 3))
        assert not torch.equal(drawn(init, 3), drawn(init, 4))
    model = Stem()
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    randomize(model, ("fc", "stage.1"), init="reset", generator=torch.Generator())
    assert torch.equal(torch.rand(3), expected)


def test_reset_uses_the_layers_own_initialiser() -> None:
    model = Stem()
    with torch.no_grad():
        model.fc.weight.fill_(100.0)
    randomize(model, ("fc",), init="reset", generator=torch.Generator().manual_seed(0))
    bound = 1 / 4**0.5  # nn.Linear's Kaiming-uniform bound for 4 inputs
    assert model.fc.weight.abs().max() <= bound
    with pytest.raises(OptionError, match="init must be one of 'normal', 'reset'"):
        randomize(model, ("fc",), init="xavier", generator=torch.Generator())


def test_snapshot_and_restore_put_a_step_back() -> None:
    model = Stem()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    saved = snapshot_step(model, ("conv", "bn"))
    randomize(model, ("conv", "bn"), generator=torch.Generator().manual_seed(0))
    assert not torch.equal(model.conv.weight, before["conv.weight"])
    restore(model, saved)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
