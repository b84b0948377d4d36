"""The experimenter's pages, rendered on the server: the setup form and the results.

Plain HTML (every value escaped), styled by ``static/study/study.css``; the form is sent as
JSON by ``static/study/setup.js``. The participant's page is the static ``study.html``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from seewhy.serve.study_config import (
    DEFAULT_DISCRIMINATION_METHODS,
    DEFAULT_TRUST_METHODS,
    StudyConfig,
)

__all__ = ["method_title", "results_page", "setup_page"]

TITLES = {
    "guided_backprop": "Guided backprop",
    "guided_gradcam": "Guided Grad-CAM",
    "deconvnet": "Deconvnet",
    "deconv_gradcam": "Deconvnet Grad-CAM",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
}
TASK_TITLES = {"discrimination": "Class discrimination", "trust": "Trust"}


def method_title(method: str) -> str:
    """A method's name as people write it (the registered name otherwise)."""
    return TITLES.get(method, method)


def shell(title: str, active: str, body: str, script: str = "") -> str:
    """The page around ``body``: the header with the three study links."""
    links = [("/study", "Study"), ("/study/setup", "Setup"), ("/study/results", "Results")]
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if name == active else ""}>{name}</a>'
        for href, name in links
    )
    tail = f'<script src="/study/static/{script}"></script>' if script else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · seewhy</title>
<link rel="stylesheet" href="/study/static/study.css">
</head>
<body>
<header class="bar"><span class="brand">seewhy <small>human studies</small></span><nav>{nav}</nav></header>
<main class="page">
{body}
</main>
{tail}
</body>
</html>
"""


def _checkboxes(
    name: str, options: Sequence[str], checked: Sequence[str], marks: Sequence[str] = ()
) -> str:
    """Check boxes named ``name``; the paper's (``marks``) first and tagged."""
    items = []
    for option in [*[o for o in marks if o in options], *[o for o in options if o not in marks]]:
        mark = ' <span class="tag">paper</span>' if option in marks else ""
        if name.endswith("methods"):
            title = method_title(option)
        else:
            title = TASK_TITLES.get(option, option) if name == "tasks" else option
        items.append(
            f'<label class="check"><input type="checkbox" name="{name}" value="{escape(option)}"'
            f"{' checked' if option in checked else ''}> {escape(title)}{mark}</label>"
        )
    return '<div class="checks">' + "".join(items) + "</div>"


def _select(name: str, options: Sequence[str], chosen: str) -> str:
    items = "".join(
        f'<option value="{escape(o)}"{" selected" if o == chosen else ""}>{escape(o)}</option>'
        for o in options
    )
    return f'<select name="{name}" id="{name}">{items}</select>'


def setup_page(
    study_id: int,
    config: StudyConfig,
    created: str,
    choices: Mapping[str, Any],
    groups: Mapping[str, Sequence[tuple[str, Sequence[str]]]] | None = None,
) -> str:
    """The setup form, filled with the active configuration. ``groups``: per image source,
    titled groups of its keys (the bundled pairs and photos)."""
    sources = choices["images"]
    groups = groups or {}
    source_radios = "".join(
        f'<label class="check"><input type="radio" name="images" value="{name}"'
        f"{' checked' if name == config.images else ''}> "
        f"{'Bundled samples' if name == 'samples' else 'The folder given with --study-images'}"
        f" <span class=muted>({_count(len(keys), 'image')})</span></label>"
        for name, keys in sources.items()
    )
    if "folder" not in sources:
        source_radios += (
            '<p class="hint">Start the server with <code>--study-images FOLDER</code> to use '
            "your own images.</p>"
        )
    image_lists = "".join(
        f'<div class="images" data-source="{name}"{"" if name == config.images else " hidden"}>'
        + "".join(
            (f'<span class="label">{escape(title)}</span>' if title else "")
            + _checkboxes(
                f"selected-{name}",
                keys,
                (config.selected or keys) if name == config.images else keys,
            )
            for title, keys in groups.get(name, [("", sources[name])])
        )
        + "</div>"
        for name in sources
    )
    methods = choices["methods"]
    models = choices["models"]
    body = f"""
<h1>Set up a study</h1>
<p class="lede">Active: study #{study_id} <strong>{escape(config.name)}</strong>, saved {escape(created[:19].replace("T", " "))} UTC.
Saving makes a new study the active one; the answers of earlier studies stay in the database
and on the <a href="/study/results">results page</a>.</p>
<form id="setup" class="card form">
  <label class="field"><span>Name</span><input type="text" name="name" value="{escape(config.name)}" maxlength="200"></label>
  <fieldset><legend>Studies</legend>
    {_checkboxes("tasks", ["discrimination", "trust"], config.tasks)}
    <p class="hint">Class discrimination: one visualization for one of the image's two categories; which is it?
    Trust: two models that made the same prediction, rated from -2 to +2.</p>
  </fieldset>
  <fieldset><legend>Images</legend>
    {source_radios}
    {image_lists}
    <p class="hint">Bundled samples: six side-by-side pairs of four photos for class discrimination, the four
    photos for trust. A folder: see <em>Human studies</em> in the README for its <code>study.json</code>.</p>
  </fieldset>
  <fieldset><legend>Class discrimination</legend>
    <label class="field"><span>Model</span>{_select("discrimination_model", models, config.discrimination_model)}</label>
    <span class="label">Methods</span>
    {_checkboxes("discrimination_methods", methods, config.discrimination_methods, DEFAULT_DISCRIMINATION_METHODS)}
  </fieldset>
  <fieldset><legend>Trust</legend>
    <div class="row">
      <label class="field"><span>First model (positive scores favour it)</span>{_select("trust_model_a", models, config.trust_models[0])}</label>
      <label class="field"><span>Second model</span>{_select("trust_model_b", models, config.trust_models[1])}</label>
    </div>
    <span class="label">Methods</span>
    {_checkboxes("trust_methods", methods, config.trust_methods, DEFAULT_TRUST_METHODS)}
  </fieldset>
  <label class="field narrow"><span>Trials per participant</span><input type="number" name="trials" min="1" max="1000" value="{config.trials}"></label>
  <div class="actions"><button type="submit" class="primary">Save and make active</button>
  <span id="status" role="status"></span></div>
</form>
"""
    return shell("Study setup", "Setup", body, "setup.js")


def _span(interval: Mapping[str, Any], show: Callable[[float | None], str]) -> str:
    if interval["low"] is None or interval["high"] is None:
        return '<span class="muted">–</span>'
    return f"{show(interval['low'])} – {show(interval['high'])}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _pair(first: str | None, second: str | None) -> str:
    if first is None or second is None:
        return '<span class="muted">–</span>'
    return f"{escape(first)} <span class=muted>vs</span> {escape(second)}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _bar(
    estimate: float | None,
    low: float | None,
    high: float | None,
    paper: float | None,
    lo: float,
    hi: float,
) -> str:
    """A horizontal scale from ``lo`` to ``hi``: the interval, the estimate and the paper."""

    def at(value: float) -> float:
        return round(100 * (min(max(value, lo), hi) - lo) / (hi - lo), 2)

    parts = []
    if low is not None and high is not None:
        parts.append(
            f'<span class="ci" style="left:{at(low)}%;width:{at(high) - at(low)}%"></span>'
        )
    if estimate is not None:
        parts.append(f'<span class="est" style="left:{at(estimate)}%"></span>')
    if paper is not None:
        parts.append(f'<span class="paper" style="left:{at(paper)}%" title="paper"></span>')
    zero = f'<span class="zero" style="left:{at(0)}%"></span>' if lo < 0 < hi else ""
    return f'<div class="scale">{zero}{"".join(parts)}</div>'


def results_page(
    summary: Mapping[str, Any], studies: Sequence[Mapping[str, Any]], study_id: int | None
) -> str:
    """Accuracy per method and mean trust per method, beside the paper's numbers."""
    picks = [
        f'<a href="/study/results?study={row["study_id"]}"'
        f"{' aria-current=page' if row['study_id'] == study_id else ''}>"
        f"#{row['study_id']} {escape(str(row['config'].get('name', '')))} "
        f'<span class="muted">({row["answers"]})</span></a>'
        for row in studies
    ]
    picks.append(
        f'<a href="/study/results?study=all"{" aria-current=page" if study_id is None else ""}>all studies</a>'
    )
    query = "all" if study_id is None else str(study_id)
    rows_a = (
        "".join(
            f"<tr><th scope=row>{escape(method_title(e['method']))}</th>"
            f"<td class=num>{e['correct']} / {e['accuracy']['n']}</td>"
            f"<td class=num><strong>{_percent(e['accuracy']['estimate'])}</strong></td>"
            f"<td class=num>{_span(e['accuracy'], _percent)}</td>"
            f"<td class=num>{_percent(e['paper'])}</td>"
            f"<td class=viz>{_bar(e['accuracy']['estimate'], e['accuracy']['low'], e['accuracy']['high'], e['paper'], 0.0, 1.0)}</td></tr>"
            for e in summary["discrimination"]
        )
        or '<tr><td colspan="6" class="empty">No answers yet.</td></tr>'
    )
    rows_b = (
        "".join(
            f"<tr><th scope=row>{escape(method_title(e['method']))}</th>"
            f"<td>{_pair(e['model_a'], e['model_b'])}</td>"
            f"<td class=num>{e['score']['n']}</td>"
            f"<td class=num><strong>{_number(e['score']['estimate'])}</strong></td>"
            f"<td class=num>{_span(e['score'], _number)}</td>"
            f"<td class=num>{_number(e['paper'])}</td>"
            f"<td class=viz>{_bar(e['score']['estimate'], e['score']['low'], e['score']['high'], e['paper'], -2.0, 2.0)}</td></tr>"
            for e in summary["trust"]
        )
        or '<tr><td colspan="7" class="empty">No answers yet.</td></tr>'
    )
    body = f"""
<h1>Results</h1>
<nav class="studies" aria-label="studies">{"".join(picks)}</nav>
<p class="lede">{_count(summary["answers"], "answer")} from {_count(summary["participants"], "participant")}.
<a class="button" href="/study/results.csv?study={query}" download>Download CSV</a></p>
<section class="card">
<h2>Class discrimination</h2>
<p class="hint">"Which of the two object categories is depicted in the image?" Share of correct answers per
visualization; chance is 50 %. Interval: 95 % Wilson score interval.</p>
<div class="table-wrap"><table class="results">
<thead><tr><th>Method</th><th class=num>Correct / n</th><th class=num>Accuracy</th><th class=num>95 % interval</th><th class=num>Paper</th><th class=viz><span class="legend"><i class="est"></i> this study <i class="ci"></i> interval <i class="paper"></i> paper</span></th></tr></thead>
<tbody>{rows_a}</tbody>
</table></div>
</section>
<section class="card">
<h2>Trust</h2>
<p class="hint">Both models made the same prediction; participants rated their relative reliability from -2 to +2.
A positive score favours the first model of the pair, whichever side it was shown on. Interval: 95 % Student t
interval of the mean.</p>
<div class="table-wrap"><table class="results">
<thead><tr><th>Method</th><th>Models (first vs second)</th><th class=num>n</th><th class=num>Mean score</th><th class=num>95 % interval</th><th class=num>Paper</th><th class=viz>-2 &nbsp;…&nbsp; 0 &nbsp;…&nbsp; +2</th></tr></thead>
<tbody>{rows_b}</tbody>
</table></div>
</section>
<p class="source">Paper: Selvaraju et al., <em>Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization</em>, ICCV 2017, Sec. 5. Class discrimination: 43 workers, 90 image-category pairs, 9 ratings each.
Trust: 54 workers, VGG-16 (first) vs AlexNet, both right; scores in favour of VGG-16.</p>
"""
    return shell("Study results", "Results", body)
