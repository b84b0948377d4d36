"""Reading layer outputs as spatial maps: channels-first, channels-last, tokens, reshape=."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from helpers.models import close
from helpers.transformers import TinyTokens, tiny_tokens_reshape, tiny_vit

import seewhy
from seewhy.engine.spatial import (
    ChannelsFirst,
    ChannelsLast,
    ModelHints,
    Reshaped,
    Tokens,
    features_last,
    grid_fits,
    model_hints,
    read_shape,
    spatial_gradients,
    spatial_view,
)

SIZE = (224, 224)
VIT = ModelHints(prefix=1, patch=(16, 16))


@pytest.mark.parametrize(
    ("height", "width", "size", "fits"),
    [
        ((7, 7, SIZE, True)),  # a stride-32 stage
        ((14, 14, SIZE, True)),
        ((6, 6, (8, 8), True)),  # a 'valid' 3x3 convolution
        ((2, 3, (4, 6), True)),  # rectangular input, same aspect
        ((197, 64, SIZE, False)),  # attn.k_norm's (tokens, head_dim)
        ((7, 768, SIZE, False)),  # a channels-last grid read channels-first
        ((1, 1, SIZE, False)),  # pooled: no map
    ],
)
def test_grid_fits(height: int, width: int, size: tuple[int, int], fits: bool) -> None:
    assert grid_fits(height, width, size) is fits


@pytest.mark.parametrize(
    ("shape", "hints", "reading"),
    [
        ((1, 768, 7, 7), ModelHints(), ChannelsFirst()),
        ((1, 7, 7, 768), ModelHints(), ChannelsLast()),  # timm / torchvision Swin
        ((1, 56, 56, 96), ModelHints(), ChannelsLast()),  # Swin's first stage
        ((1, 3, 197, 64), VIT, None),  # timm ViT's attn.k_norm (B, heads, N, head_dim)
        ((1, 197, 192), VIT, Tokens(1, 14, 14)),  # ViT: class token
        ((1, 198, 192), ModelHints(prefix=2, patch=(16, 16)), Tokens(2, 14, 14)),  # DeiT
        ((1, 201, 192), ModelHints(prefix=5, patch=(16, 16)), Tokens(5, 14, 14)),  # registers
        ((1, 197, 192), ModelHints(), Tokens(1, 14, 14)),  # inferred: 197 is prime
        ((1, 198, 192), ModelHints(), Tokens(2, 14, 14)),  # inferred: 198 = 11 x 18 misfits
        ((1, 196, 192), ModelHints(patch=(16, 16)), Tokens(0, 14, 14)),  # no prefix
        ((1, 1000), VIT, None),
    ],
)
def test_read_shape(shape: tuple[int, ...], hints: ModelHints, reading: object) -> None:
    assert read_shape(shape, SIZE, hints) == reading


def test_tokens_on_a_rectangular_input_follow_its_aspect() -> None:
    # 64 x 128 with 16-pixel patches: a 4 x 8 grid after a class token (33 tokens).
    assert read_shape((1, 33, 8), (64, 128), ModelHints(patch=(16, 16))) == Tokens(1, 4, 8)
    assert read_shape((1, 33, 8), (64, 128), ModelHints()) == Tokens(1, 4, 8)


def test_model_hints_of_timm_and_torchvision_vits() -> None:
    assert model_hints(tiny_vit()) == ModelHints(1, (8, 8))
    assert model_hints(tiny_vit(reg_tokens=4)) == ModelHints(5, (8, 8))
    distilled = timm.models.deit.VisionTransformerDistilled(
        img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=5
    )
    assert model_hints(distilled) == ModelHints(2, (8, 8))
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    assert model_hints(vit) == ModelHints(1, (8, 8))
    assert model_hints(TinyTokens()) == ModelHints()  # says nothing: inferred


def test_tokens_layout_element_by_element() -> None:
    raw = torch.arange(2 * 7 * 4.0).reshape(2, 7, 4)  # 1 prefix token, a 2 x 3 grid, C = 4
    spatial = Tokens(1, 2, 3).to_spatial(raw)
    assert spatial.shape == (2, 4, 2, 3)
    for i in range(2):
        for j in range(3):
            assert torch.equal(spatial[:, :, i, j], raw[:, 1 + 3 * i + j])


@pytest.mark.parametrize(
    ("view", "shape"),
    [
        (ChannelsFirst(), (2, 4, 2, 3)),
        (ChannelsLast(), (2, 2, 3, 4)),
        (Tokens(1, 2, 3), (2, 7, 4)),
        (Tokens(3, 2, 3), (2, 9, 4)),
        (Reshaped(tiny_tokens_reshape), (2, 7, 4)),
    ],
)
def test_to_raw_inverts_to_spatial_and_restores_the_prefix(view, shape) -> None:
    raw = torch.randn(shape)
    assert torch.equal(view.to_raw(view.to_spatial(raw), raw), raw)
    edited = view.to_spatial(raw).clone()
    edited[:, 2] = 0
    written = view.to_raw(edited, raw)
    assert written.shape == raw.shape
    assert torch.equal(view.to_spatial(written), edited)
    assert int((written != raw).sum()) == int((edited != view.to_spatial(raw)).sum())


def test_reshape_index_is_the_raw_element_behind_each_map_element() -> None:
    raw = torch.randn(2, 7, 4)
    index = Reshaped(tiny_tokens_reshape).index(raw)
    # map element (c, i, j) of one image is raw token 1 + 3 i + j, channel c.
    expected = [(1 + 3 * i + j) * 4 + c for c in range(4) for i in range(2) for j in range(3)]
    assert index.tolist() == expected


@pytest.mark.parametrize(
    ("reshape", "why"),
    [
        (lambda t: tiny_tokens_reshape(t) / 3, "mixes elements"),
        (
            # neighbours differ by 4 element numbers: their means are numbers too
            lambda t: torch.nn.functional.avg_pool2d(tiny_tokens_reshape(t), (1, 2), 1),
            "does not select elements",
        ),
        (lambda t: 2 * tiny_tokens_reshape(t), "makes new values"),
        (lambda t: tiny_tokens_reshape(t).repeat(1, 2, 1, 1), "repeats elements"),
        (lambda t: tiny_tokens_reshape(t) + 1000, "makes new values"),
    ],
)
def test_a_reshape_that_is_not_a_selection_has_no_inverse(reshape, why: str) -> None:
    raw = torch.randn(2, 7, 4)
    view = Reshaped(reshape)
    view.to_spatial(raw)  # the forward reading itself is fine
    with pytest.raises(seewhy.MethodRefusal, match=why) as error:
        view.to_raw(view.to_spatial(raw), raw)
    assert "Ablation-CAM" in str(error.value)


def test_spatial_gradients_read_each_target_like_the_activations() -> None:
    gradients = torch.randn(2, 3, 7, 4)  # (B, T, N, C)
    mapped = spatial_gradients(Tokens(1, 2, 3), gradients)
    assert mapped.shape == (2, 3, 4, 2, 3) and mapped.is_contiguous()
    for t in range(3):
        assert torch.equal(mapped[:, t], Tokens(1, 2, 3).to_spatial(gradients[:, t]))


def test_a_non_spatial_output_is_refused_naming_its_shape_and_reshape() -> None:
    with pytest.raises(seewhy.LayerError) as error:
        spatial_view("blocks.1.attn.k_norm", tiny_vit(), torch.zeros(1, 2, 17, 8), (32, 32))
    message = str(error.value)
    assert "(1, 2, 17, 8)" in message and "reshape=" in message and "32x32" in message


def test_explaining_vit_attention_keys_is_refused() -> None:
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    with pytest.raises(seewhy.LayerError, match=r"\(1, 3, 197, 64\).*reshape="):
        seewhy.Explainer(model, layer="blocks.11.attn.k_norm").explain(torch.zeros(1, 3, 224, 224))


def test_reshape_must_give_a_batch_of_maps() -> None:
    with pytest.raises(seewhy.OptionError, match="reshape"):
        seewhy.Explainer(TinyTokens(), layer="mix", reshape="tokens")  # type: ignore[arg-type]
    explainer = seewhy.Explainer(TinyTokens(), layer="mix", reshape=lambda t: t[:, 1:])
    with pytest.raises(seewhy.LayerError, match=r"\(2, 6, 4\).*\(B, C, h, w\)"):
        explainer.explain(torch.randn(2, 3, 4, 6))


def direct_gradcam(model: TinyTokens, x: torch.Tensor) -> torch.Tensor:
    """Grad-CAM at ``mix`` by hand: A = reshape(tokens), w_k = mean_ij dS/dA, ReLU(sum w A)."""
    kept: dict[str, torch.Tensor] = {}
    handle = model.mix.register_forward_hook(lambda m, i, o: kept.setdefault("tokens", o))
    try:
        logits = model(x)
    finally:
        handle.remove()
    top = logits.argmax(dim=1)
    score = logits.gather(1, top[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, kept["tokens"])
    activations = tiny_tokens_reshape(kept["tokens"]).detach()
    weights = tiny_tokens_reshape(gradient).mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations).sum(dim=1))


@pytest.mark.parametrize("reshape", [tiny_tokens_reshape, None])
def test_gradcam_on_tokens_equals_a_direct_computation(reshape) -> None:
    model = TinyTokens()
    x = torch.randn(3, 3, 4, 6, generator=torch.Generator().manual_seed(2))
    res = seewhy.Explainer(model, layer="mix", reshape=reshape).explain(x, ["gradcam"])
    expected = direct_gradcam(model, x)
    assert res.layer_maps["gradcam"].shape == (3, 1, 2, 3)
    assert float(expected.amax()) > 0.01
    close(res.layer_maps["gradcam"][:, 0], expected)


def test_ablationcam_with_a_user_reshape_equals_the_automatic_reading() -> None:
    model = TinyTokens()
    x = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(3))
    methods = {"ablationcam": {"relu": False}}
    auto = seewhy.Explainer(model, layer="mix").explain(x, methods)
    user = seewhy.Explainer(model, layer="mix", reshape=tiny_tokens_reshape).explain(x, methods)
    assert float(auto.layer_maps["ablationcam"].abs().amax()) > 0
    close(user.layer_maps["ablationcam"], auto.layer_maps["ablationcam"])


def test_ablationcam_refuses_a_reshape_that_is_not_a_selection() -> None:
    explainer = seewhy.Explainer(
        TinyTokens(), layer="mix", reshape=lambda t: 2 * tiny_tokens_reshape(t)
    )
    with pytest.raises(seewhy.MethodRefusal, match="not a pure selection"):
        explainer.explain(torch.randn(1, 3, 4, 6), ["ablationcam"])
    with pytest.warns(seewhy.SeewhyWarning, match="ablationcam was not run"):
        res = explainer.explain(torch.randn(1, 3, 4, 6), ["ablationcam", "gradcam"])
    assert "not a pure selection" in res.refused["ablationcam"]  # the others run
    assert res.layer_maps["gradcam"].shape == (1, 1, 2, 3)


class SquareChannelsLast(torch.nn.Module):
    """A stride-4 stem, then a channels-last LayerNorm: (B, 8, 8, 8) on 32 px, where the
    grid's side equals the channel count, so the shape alone fits both readings (as
    torchvision ConvNeXt-T's first stage does at 384 px: (B, 96, 96, 96))."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = self.norm(self.stem(x).permute(0, 2, 3, 1))
        return self.head(grid.mean(dim=(1, 2)))


@pytest.mark.parametrize(
    ("layer", "last"),
    [
        (torch.nn.LayerNorm(8), True),
        (torch.nn.Linear(8, 8), True),
        (torchvision.ops.misc.Permute([0, 2, 3, 1]), True),
        (torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), torch.nn.LayerNorm(8)), True),
        (torchvision.models.convnext.LayerNorm2d(8), False),  # channels-first
        (timm.layers.LayerNorm2d(8), False),
        (timm.layers.LayerNorm(8), True),
        (torchvision.ops.misc.Permute([0, 3, 1, 2]), False),
        (torch.nn.Conv2d(3, 8, 1), False),
    ],
)
def test_features_last_reads_the_layers_module(layer: torch.nn.Module, last: bool) -> None:
    assert features_last(layer) is last


def test_a_square_channels_last_grid_is_read_by_its_module() -> None:
    assert read_shape((1, 8, 8, 8), (32, 32), ModelHints()) == ChannelsFirst()
    assert read_shape((1, 8, 8, 8), (32, 32), ModelHints(), True) == ChannelsLast()
    model = SquareChannelsLast()
    x = torch.randn(1, 3, 32, 32)
    ours = seewhy.Explainer(model, layer="norm").explain(x, ["hirescam"])
    given = seewhy.Explainer(model, layer="norm", reshape=lambda t: t.permute(0, 3, 1, 2))
    expected = given.explain(x, ["hirescam"])
    close(ours.layer_maps["hirescam"], expected.layer_maps["hirescam"])
    assert seewhy.Explainer(model).layers_for(x) == ["norm"]


class SquareGrid(torch.nn.Module):
    """(B, 8, 8, 8) on 32 px at ``stem`` (a convolution: channels-first), ``act`` (a GELU:
    no sign of its layout) and ``norm`` (a LayerNorm over the last dimension)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.act = torch.nn.GELU()
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = self.norm(self.act(self.stem(x)).permute(0, 2, 3, 1))
        return self.head(grid.mean(dim=(1, 2)))


def test_a_shape_read_both_ways_by_a_module_that_gives_no_sign_is_warned() -> None:
    import warnings

    x = torch.randn(1, 3, 32, 32)
    with pytest.warns(
        seewhy.SeewhyWarning, match=r"'act' \(GELU\) outputs \(1, 8, 8, 8\).*reshape="
    ):
        seewhy.Explainer(SquareGrid(), layer="act").explain(x, ["gradcam"])
    for layer in ("stem", "norm"):  # the module says which: no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error", seewhy.SeewhyWarning)
            seewhy.Explainer(SquareGrid(), layer=layer).explain(x, ["gradcam"])
