"""Multi-input models: ``explain(images, forward_args=..., forward_kwargs=...)`` (issue 11, item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import snapshot
from helpers.multi_input import TinyCaptioner, TinyVQA, hand_gradcam, hand_input_gradient
from PIL import Image

from seewhy import Explainer
from seewhy.engine.targets import Classes
from seewhy.errors import ModelError, OptionError

ANSWER = 3
IMAGES = 5


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(IMAGES, 3, 16, 16)


@pytest.fixture(scope="module")
def questions() -> torch.Tensor:
    torch.manual_seed(2)
    return torch.randint(0, 20, (IMAGES, 4))


def answer(out: torch.Tensor) -> torch.Tensor:
    return out[:, ANSWER]


def test_gradcam_with_per_image_questions_equals_the_hand_computation(images, questions):
    model = TinyVQA()
    before = snapshot(model)
    res = Explainer(model, layer="features", batch_size=2).explain(
        images, "gradcam", targets=Classes([ANSWER]), forward_args=(questions,)
    )
    expected = hand_gradcam(model, images, answer, questions)
    torch.testing.assert_close(res.layer_maps["gradcam"][:, 0], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res.scores[:, 0], answer(model(images, questions)).detach())
    assert snapshot(model) == before
    # The questions matter: the first image with the second image's question differs.
    swapped = hand_gradcam(model, images[:1], answer, questions[1:2])
    assert (swapped - expected[:1]).abs().max() > 1e-3 * expected[:1].abs().max()


def test_constant_arguments_go_to_every_image(images, questions):
    """A (1, L) question and a plain number are the same for every image and chunk."""
    model = TinyVQA()
    question = questions[:1]
    res = Explainer(model, layer="features", batch_size=2).explain(
        images,
        "gradcam",
        targets=answer,
        forward_args=(question,),
        forward_kwargs={"scale": 2.5},
    )
    expected = hand_gradcam(model, images, answer, question, 2.5)
    torch.testing.assert_close(res.layer_maps["gradcam"][:, 0], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res.scores[:, 0], answer(model(images, question, 2.5)).detach())
    assert res.targets.tolist() == [[-1]] * IMAGES and torch.isnan(res.probs).all()


def test_layer_auto_probes_with_the_arguments(images, questions):
    ex = Explainer(TinyVQA())
    res = ex.explain(images, "gradcam", targets=answer, forward_args=(questions,))
    assert res.layers["gradcam"] == "features"


def test_noisy_copies_use_their_images_question(images, questions):
    """SmoothGrad with no noise is the input gradient's magnitude: every copy of image b
    must be scored with question b, across chunks of copies that straddle images."""
    model = TinyVQA()
    res = Explainer(model, layer="features", batch_size=2).explain(
        images,
        {"smoothgrad": {"n": 3, "noise": 0.0, "batch_size": 4}},
        targets=Classes([ANSWER]),
        forward_args=(questions,),
    )
    gradient = hand_input_gradient(model, images, answer, questions)
    expected = gradient.abs().amax(dim=1)
    torch.testing.assert_close(res.maps["smoothgrad"][:, 0], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "method",
    [{"occlusion": {"window": 8, "stride": 4}}, "scorecam", "ablationcam", "smooth:gradcam"],
)
def test_copies_batched_equal_each_image_alone(images, questions, method):
    """Masked, ablated and noisy copies of a batch of images, each with its own question,
    give what each image gives alone with its question."""
    model = TinyVQA()
    options = {"smooth:gradcam": {"n": 4, "noise": 0.1, "seed": 0}}
    methods = {method: options[method]} if isinstance(method, str) and method in options else method
    name = method if isinstance(method, str) else next(iter(method))
    ex = Explainer(model, layer="features", batch_size=2)
    batched = ex.explain(
        images[:2], methods, targets=Classes([ANSWER]), forward_args=(questions[:2],)
    ).maps[name]
    alone = torch.cat(
        [
            ex.explain(
                images[i : i + 1],
                methods,
                targets=Classes([ANSWER]),
                forward_args=(questions[i : i + 1],),
            ).maps[name]
            for i in range(2)
        ]
    )
    if name == "smooth:gradcam":  # the noise is seeded per row of a batch: image 0 only
        batched, alone = batched[:1], alone[:1]
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)
    assert batched.abs().max() > 0


def test_caption_word_log_probability(images):
    """A (B, L, V) output with a callable target: one caption word's log-probability."""
    model = TinyCaptioner()
    tokens = torch.randint(0, 12, (IMAGES, 5), generator=torch.Generator().manual_seed(3))
    position, word = 2, 7

    def log_prob(out: torch.Tensor) -> torch.Tensor:
        return out.log_softmax(dim=-1)[:, position, word]

    res = Explainer(model, layer="features", batch_size=3).explain(
        images, ["gradcam", "layercam"], targets=log_prob, forward_args=(tokens,)
    )
    expected = hand_gradcam(model, images, log_prob, tokens)
    torch.testing.assert_close(res.layer_maps["gradcam"][:, 0], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res.scores[:, 0], log_prob(model(images, tokens)).detach())
    assert torch.isfinite(res.maps["layercam"]).all()


def test_per_image_arguments_follow_the_readable_files(tmp_path, questions):
    """An unreadable file drops its row of the per-image arguments too."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    (tmp_path / "1.png").write_bytes(b"not an image")
    model = TinyVQA()
    ex = Explainer(model, layer="features")
    ex.model.input_size = 16
    res = ex.explain(paths, "gradcam", targets=answer, forward_args=(questions[:3],))
    assert [r.index for r in res.records] == [0, None, 1]
    alone = ex.explain(paths[2], "gradcam", targets=answer, forward_args=(questions[2:3],))
    torch.testing.assert_close(res.layer_maps["gradcam"][1:], alone.layer_maps["gradcam"])


def test_a_per_image_tensor_with_the_wrong_length_is_named(images, questions):
    ex = Explainer(TinyVQA(), layer="features")
    with pytest.raises(OptionError, match=r"forward_args\[0\].*\(3, 4\).*number of images \(5\)"):
        ex.explain(images, "gradcam", forward_args=(questions[:3],))
    with pytest.raises(OptionError, match=r"forward_kwargs\['question'\]"):
        ex.explain(images, "gradcam", forward_kwargs={"question": questions[:3]})


def test_a_model_that_rejects_its_arguments_says_what_it_was_given(images, questions):
    ex = Explainer(TinyVQA(), layer="features")
    with pytest.raises(ModelError, match=r"no forward_args.*question.*forward_args="):
        ex.explain(images, "gradcam")
    with pytest.raises(ModelError, match=r"forward_args=\(tensor \(5, 4\) int64, int, int\)"):
        ex.explain(images, "gradcam", forward_args=(questions, 1, 2))
