"""Every CAM method on tiny hand-built tensors, against numbers worked out by hand.

One image, two channels on a 2x2 map (Z = 4), two targets::

    A0 = [[1, 2],     A1 = [[4, 0],      sum A0 = 10, sum A1 = 7
          [3, 4]]           [1, 2]]

    target 0: g0 = [[1, 1],  g1 = [[ 2, 0],     target 1: g0 = [[0,  0],  g1 = [[1, 1],
                    [1, 1]]        [-2, 4]]                    [0, -4]]        [1, 1]]
"""

from __future__ import annotations

import pytest
import torch

import seewhy
from seewhy.methods import CamInputs, LinearHead, available_methods, get_method, run_method

A = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[4.0, 0.0], [1.0, 2.0]]])[None]  # (1, 2, 2, 2)
G = torch.tensor(
    [
        [[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.0], [-2.0, 4.0]]],  # target 0
        [[[0.0, 0.0], [0.0, -4.0]], [[1.0, 1.0], [1.0, 1.0]]],  # target 1
    ]
)[None]  # (1, 2, 2, 2, 2)
TARGETS = torch.tensor([[2, 0]])


def inputs(**changes: object) -> CamInputs:
    fields = {"activations": A, "gradients": G, "targets": TARGETS}
    fields.update(changes)
    return CamInputs(**fields)  # type: ignore[arg-type]


def run(name: str, cam_inputs: CamInputs | None = None, **options: object) -> torch.Tensor:
    return get_method(name).function(cam_inputs or inputs(), **options)


def maps(*rows: list[list[float]]) -> torch.Tensor:
    """(1, T, 2, 2) from one 2x2 list per target."""
    return torch.tensor(rows, dtype=torch.float32)[None]


def test_gradcam() -> None:
    # t0: mean g0 = 1, mean g1 = (2 + 0 - 2 + 4) / 4 = 1 -> A0 + A1
    # t1: mean g0 = -1, mean g1 = 1 -> -A0 + A1 = [[3, -2], [-2, -2]]
    torch.testing.assert_close(
        run("gradcam", relu=False), maps([[5, 2], [4, 6]], [[3, -2], [-2, -2]])
    )
    torch.testing.assert_close(run("gradcam"), maps([[5, 2], [4, 6]], [[3, 0], [0, 0]]))


def test_gradcam_plusplus() -> None:
    # alpha = g^2 / (2 g^2 + S g^3), w = sum alpha * relu(g)
    # t0, k0: g = 1, S = 10: alpha = 1/12 at all 4 positions -> w0 = 4/12 = 1/3
    # t0, k1: S = 7; g = 2: 4 / (8 + 56) = 1/16, times 2 -> 1/8; g = 0: denominator 0 -> alpha 0;
    #         g = -2: relu(g) = 0; g = 4: 16 / (32 + 448) = 1/30, times 4 -> 2/15.
    #         w1 = 1/8 + 2/15 = 31/120
    # t1, k0: g <= 0 everywhere -> w0 = 0;  k1: g = 1, S = 7: alpha = 1/9 -> w1 = 4/9
    w0, w1 = 1 / 3, 31 / 120
    t0 = [[w0 * 1 + w1 * 4, w0 * 2], [w0 * 3 + w1 * 1, w0 * 4 + w1 * 2]]
    t1 = [[16 / 9, 0], [4 / 9, 8 / 9]]
    result = run("gradcam++")
    assert torch.isfinite(result).all()
    torch.testing.assert_close(result, maps(t0, t1))


def test_gradcam_plusplus_zero_denominator_with_nonzero_gradient() -> None:
    # One channel of ones on a 1x2 map: S = 2. At g = -1 the denominator 2 g^2 + S g^3 = 2 - 2
    # is 0 with numerator 1: alpha is 0 there (not inf, whose product with relu(g) = 0 is NaN).
    # At g = 1: alpha = 1 / (2 + 2) = 1/4, relu(g) = 1 -> w = 1/4, map = 1/4 * A.
    cam_inputs = CamInputs(
        activations=torch.ones(1, 1, 1, 2),
        gradients=torch.tensor([-1.0, 1.0]).view(1, 1, 1, 1, 2),
        targets=torch.tensor([[0]]),
    )
    torch.testing.assert_close(run("gradcam++", cam_inputs), torch.tensor([[[[0.25, 0.25]]]]))
    # All-zero gradients: every denominator is 0, the map is 0, not NaN.
    zero = CamInputs(torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 1, 2), torch.tensor([[0]]))
    torch.testing.assert_close(run("gradcam++", zero), torch.zeros(1, 1, 1, 2))


def test_gradcam_plusplus_zero_denominator_with_a_positive_gradient() -> None:
    # One channel of -1s on a 1x2 map: S = -2. At g = 1 the denominator g^2 (2 + S g) is 0:
    # alpha = 0. At g = 2: alpha * relu(g) = g / (2 + S g) = 2 / (2 - 4) = -1 -> w = -1,
    # map = -1 * A = [1, 1] (and ReLU keeps it).
    cam_inputs = CamInputs(
        activations=-torch.ones(1, 1, 1, 2),
        gradients=torch.tensor([1.0, 2.0]).view(1, 1, 1, 1, 2),
        targets=torch.tensor([[0]]),
    )
    torch.testing.assert_close(run("gradcam++", cam_inputs), torch.tensor([[[[1.0, 1.0]]]]))


def test_methods_sharing_one_workspace_give_what_each_gives_alone() -> None:
    # The CAM methods of one call write into the same scratch buffer, in turn.
    torch.manual_seed(0)
    shared = inputs(
        activations=torch.randn(2, 4, 3, 3),
        gradients=torch.randn(2, 2, 4, 3, 3),
        targets=torch.zeros(2, 2, dtype=torch.long),
    )
    names = ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam"]
    together = {name: run(name, shared) for name in names}
    for name in reversed(names):
        alone = run(name, inputs(activations=shared.activations, gradients=shared.gradients))
        torch.testing.assert_close(together[name], alone)
        torch.testing.assert_close(run(name, shared), alone)


def test_xgradcam() -> None:
    # w_k = sum(g A) / sum(A)
    # t0: k0: 10 / 10 = 1; k1: (8 + 0 - 2 + 8) / 7 = 2 -> A0 + 2 A1 = [[9, 2], [5, 8]]
    # t1: k0: -16 / 10 = -1.6; k1: 7 / 7 = 1 -> -1.6 A0 + A1 = [[2.4, -3.2], [-3.8, -4.4]]
    expected = maps([[9, 2], [5, 8]], [[2.4, -3.2], [-3.8, -4.4]])
    torch.testing.assert_close(run("xgradcam", relu=False, eps=0.0), expected)
    torch.testing.assert_close(run("xgradcam", eps=0.0), torch.relu(expected))
    # The default eps (1e-7) moves the weights by ~1e-8 relative here.
    torch.testing.assert_close(run("xgradcam", relu=False), expected, rtol=1e-6, atol=0)
    # A channel whose activations sum to 0 gets weight 0, not NaN.
    dead = inputs(activations=torch.cat([A[:, :1], torch.zeros(1, 1, 2, 2)], dim=1))
    torch.testing.assert_close(
        run("xgradcam", dead, relu=False), maps([[1, 2], [3, 4]], [[-1.6, -3.2], [-4.8, -6.4]])
    )


def test_layercam() -> None:
    # ReLU(sum_k relu(g) * A)
    # t0: relu(g0) A0 = A0; relu(g1) A1 = [[8, 0], [0, 8]] -> [[9, 2], [3, 12]]
    # t1: relu(g0) = 0;      relu(g1) A1 = A1              -> [[4, 0], [1, 2]]
    torch.testing.assert_close(run("layercam"), maps([[9, 2], [3, 12]], [[4, 0], [1, 2]]))


def test_hirescam_is_signed_by_default() -> None:
    # sum_k g * A, no averaging, no ReLU
    # t0: A0 + [[8, 0], [-2, 8]] = [[9, 2], [1, 12]]
    # t1: [[0, 0], [0, -16]] + A1 = [[4, 0], [1, -14]]
    expected = maps([[9, 2], [1, 12]], [[4, 0], [1, -14]])
    torch.testing.assert_close(run("hirescam"), expected)
    torch.testing.assert_close(run("hirescam", relu=True), torch.relu(expected))


def test_cam() -> None:
    # Linear weight (3 classes x 2 channels); targets [2, 0]
    # t0: class 2 = [2, 1]  -> 2 A0 + A1 = [[6, 4], [7, 10]]
    # t1: class 0 = [0.5, -1] -> 0.5 A0 - A1 = [[-3.5, 1], [0.5, 0]]   (signed: no ReLU)
    head = LinearHead(
        weight=torch.tensor([[0.5, -1.0], [0.0, 3.0], [2.0, 1.0]]), bias=torch.ones(3)
    )
    result = run("cam", inputs(head=head, gradients=None))
    torch.testing.assert_close(result, maps([[6, 4], [7, 10]], [[-3.5, 1], [0.5, 0]]))


def test_cam_errors() -> None:
    with pytest.raises(seewhy.MethodError, match="Linear"):
        run("cam", inputs(gradients=None, layer="layer4"))
    head = LinearHead(weight=torch.eye(3, 2), bias=None)
    with pytest.raises(seewhy.MethodError, match="class indices"):
        run("cam", inputs(head=head, targets=torch.tensor([[-1, -1]])))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_eigencam_rank_one(sign: float) -> None:
    # A[k] = u_k * s + c_k: the centered (hw, K) matrix is (s - mean s) u^T, its first right
    # singular vector is +-u / |u|, the projection +-|u| (s - mean s). |u| = 5, mean s = 3.
    # The sign follows the mean activation over channels, whose centered map is mean(u) (s - 3).
    u = sign * torch.tensor([3.0, 4.0])
    s = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    c = torch.tensor([1.0, -2.0])
    activations = (u[:, None, None] * s + c[:, None, None])[None]
    cam_inputs = CamInputs(activations, None, torch.tensor([[0, 7, 9]]))
    projection = sign * 5 * (s - 3)  # sign * [[-10, -5], [0, 15]]
    expected = projection.expand(1, 3, 2, 2)  # class-agnostic: the same map for every target
    torch.testing.assert_close(run("eigencam", cam_inputs, relu=False), expected)
    torch.testing.assert_close(run("eigencam", cam_inputs), torch.relu(expected))


def test_gradient_methods_without_gradients_raise() -> None:
    names = [n for n, s in available_methods().items() if s.family == "cam" and s.needs_gradients]
    assert {"gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"} <= set(names)
    for name in names:
        with pytest.raises(seewhy.MethodError, match="needs gradients"):
            run(name, inputs(gradients=None))


def test_unknown_method_suggests_the_closest_name() -> None:
    with pytest.raises(seewhy.MethodError, match="Did you mean 'gradcam'") as info:
        get_method("gradcamm")
    assert "unknown method 'gradcamm'" in str(info.value)
    with pytest.raises(seewhy.MethodError, match="'layercam'"):
        get_method("layer_cam")


def test_unknown_method_fails_before_any_work_in_explain() -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    with pytest.raises(seewhy.MethodError, match="Did you mean 'gradcam'"):
        seewhy.Explainer(model, layer="0").explain(torch.zeros(1, 3, 4, 4), ["gradcamm"])


def test_bad_option_lists_the_allowed_ones() -> None:
    with pytest.raises(seewhy.MethodError, match="bogus") as info:
        run_method("gradcam", inputs(), {"bogus": 1})
    assert "Allowed options: relu" in str(info.value)
    with pytest.raises(seewhy.MethodError, match="Allowed options: relu, eps"):
        run_method("xgradcam", inputs(), {"bogus": 1})
    # And through the public API.
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    with pytest.raises(seewhy.MethodError, match="Allowed options: relu"):
        seewhy.Explainer(model, layer="0").explain(
            torch.ones(1, 3, 4, 4), {"gradcam": {"bogus": 1}}
        )


def test_run_method_passes_valid_options() -> None:
    torch.testing.assert_close(
        run_method("gradcam", inputs(), {"relu": False}), run("gradcam", relu=False)
    )
    assert float(run_method("gradcam", inputs(), {"relu": False}).min()) == -2.0
