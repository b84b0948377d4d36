"""The page in headless Chromium against the running server (see ``conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(skimage_data.coffee()).save(folder / "coffee.png")
    (folder / "notes.txt").write_text("not a picture")
    return {name: str(folder / name) for name in ("chelsea.png", "coffee.png", "notes.txt")}


def shot(page, name: str) -> None:
    """A screenshot of the state, kept where SEEWHY_SCREENSHOTS points (to look at)."""
    folder = os.environ.get("SEEWHY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def choose(page, files: list[str]) -> None:
    while page.locator(".chosen .x").count():
        page.locator(".chosen .x").first.click()
    page.set_input_files("#files", files)


def explain(page) -> None:
    page.click("#explain")
    page.wait_for_selector("#explain:not([disabled])")


def set_methods(page, names: list[str]) -> None:
    for box in page.locator("#methods input").all():
        box.set_checked(box.get_attribute("value") in names)


def test_the_page_explains_the_cat_then_other_methods_classes_models_and_images(
    browser_page, live_server, photos
):
    page = browser_page
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#layer option:checked").inner_text() == "auto (bn2)"
    study = page.evaluate("fetch('/api/health').then(r => r.json()).then(h => h.study)")
    assert page.locator("#study-link").is_visible() is study
    shot(page, "1_start")

    page.select_option("#topk", "1")
    page.select_option("#steps", "4")
    choose(page, [photos["chelsea.png"]])
    page.click("#explain")
    page.wait_for_selector("#progress:not([hidden])")
    shot(page, "2_progress")
    page.wait_for_selector("#explain:not([disabled])")
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    top = page.locator(".pred-name").first.inner_text()
    assert "cat" in top.lower()
    overlay = page.locator(".stack img.overlay").first
    assert overlay.evaluate("img => img.complete && img.naturalWidth") == 224
    assert page.locator(".faith").first.inner_text().startswith("del ")
    assert page.locator(".stack .box").count() >= 1
    page.locator("#opacity").fill("80")
    assert overlay.evaluate("img => getComputedStyle(img).opacity") == "0.8"
    shot(page, "3_result")

    set_methods(page, ["gradcam++"])
    page.select_option("#steps", "0")
    explain(page)
    assert page.locator(".colhead").first.inner_text().startswith("gradcam++")
    assert page.locator(".colhead").count() == 1

    second = page.locator(".pred-name").nth(1)
    second_name = second.inner_text()
    second.click()
    page.wait_for_selector("#explain:not([disabled])")
    page.wait_for_function(
        "name => document.querySelector('.rowhead b')?.textContent === name", arg=second_name
    )
    assert page.locator(".rowhead").count() == 1
    shot(page, "4_second_class")

    page.select_option("#compare", "efficientnet_lite1")
    explain(page)
    models = page.locator(".image-block .model-block")
    assert [models.nth(i).get_attribute("data-model") for i in range(models.count())] == [
        "efficientnet_lite0",
        "efficientnet_lite1",
    ]
    assert (
        page.locator(".image-block .model-block")
        .nth(1)
        .locator("img.overlay")
        .first.evaluate("img => img.naturalWidth")
        == 240
    )
    shot(page, "5_side_by_side")

    page.select_option("#compare", "")
    page.check('input[name="targets-mode"][value="top"]')
    choose(page, [photos["chelsea.png"], photos["coffee.png"]])
    explain(page)
    blocks = page.locator(".image-block")
    assert blocks.count() == 2
    assert [blocks.nth(i).get_attribute("data-name") for i in range(2)] == [
        "chelsea.png",
        "coffee.png",
    ]
    shot(page, "6_two_images")

    choose(page, [photos["notes.txt"]])
    explain(page)
    error = page.locator("#error")
    assert error.is_visible()
    assert error.inner_text() == "notes.txt: not an image (or a format Pillow cannot read)"
    shot(page, "7_error")


def test_a_sample_photo_a_typed_class_and_the_zip(browser_page, live_server, tmp_path):
    page = browser_page
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#labels option").count() == 1000
    assert page.locator('#labels option[value="tabby"]').count() == 1
    page.click('#samples button[data-sample="chelsea"]')
    page.wait_for_selector(".chosen li")
    assert page.locator(".chosen li span").inner_text() == "chelsea.png"
    set_methods(page, ["gradcam"])
    page.select_option("#steps", "0")
    page.fill("#class-input", "tabby")
    page.press("#class-input", "Enter")
    assert page.locator(".chips li").inner_text().startswith("tabby")
    explain(page)
    assert page.locator(".rowhead b").inner_text() == "tabby"
    with page.expect_download() as caught:
        page.click("#download")
    path = tmp_path / "seewhy.zip"
    caught.value.save_as(path)
    import zipfile

    with zipfile.ZipFile(path) as zf:
        assert "answer.json" in zf.namelist()
        assert "00_chelsea/efficientnet_lite0/gradcam_t0_281.png" in zf.namelist()


def test_four_methods_fit_a_960_pixel_window(browser, live_server):
    """The results grid shrinks its panels (and scrolls, past what fits) inside the results
    column instead of running off the page."""
    context = browser.new_context(viewport={"width": 960, "height": 900})
    page = context.new_page()
    page.set_default_timeout(180_000)
    try:
        page.goto(live_server + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.click('#samples button[data-sample="chelsea"]')
        page.wait_for_selector(".chosen li")
        set_methods(page, ["gradcam", "gradcam++", "layercam", "hirescam"])
        page.select_option("#steps", "0")
        explain(page)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        shot(page, "960_four_methods")
        assert page.evaluate("document.documentElement.scrollWidth") <= 960
        edges = page.evaluate(
            """() => {
                const results = document.querySelector('#results').getBoundingClientRect();
                return [...document.querySelectorAll('#results .stack')].map(
                    s => [s.getBoundingClientRect().right, results.right]);
            }"""
        )
        assert edges and all(right <= limit + 0.5 for right, limit in edges)
    finally:
        context.close()
