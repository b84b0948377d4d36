// The participant's page: one trial at a time from /study/api/trials, answers to /study/api/answers.
(function () {
  "use strict";
  const KEY = "seewhy-study-participant";
  const $ = (id) => document.getElementById(id);
  let participant = null;
  let trial = null;
  let shownAt = null;
  let retry = null;

  function show(id) {
    for (const section of ["intro", "trial", "done"]) $(section).hidden = section !== id;
  }

  function fail(message, again) {
    $("error-text").textContent = message;
    $("error").hidden = false;
    retry = again;
  }

  async function call(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail;
      const text = detail && detail.message ? detail.message : JSON.stringify(detail || response.status);
      throw new Error(text);
    }
    return data;
  }

  async function identify() {
    const asked = new URLSearchParams(location.search).get("participant");
    if (asked) localStorage.setItem(KEY, asked);
    participant = localStorage.getItem(KEY);
    if (!participant) {
      participant = (await call("/study/api/participants")).participant;
      localStorage.setItem(KEY, participant);
    }
    $("participant-id").textContent = participant;
    $("done-id").textContent = participant;
    $("who").hidden = false;
  }

  function loaded(images) {
    return Promise.all(images.map((img) => img.decode ? img.decode() : new Promise((ok, bad) => {
      img.onload = ok; img.onerror = bad;
    })));
  }

  function setButtons(enabled) {
    for (const button of document.querySelectorAll(".choices button, .ratings button")) {
      button.disabled = !enabled;
    }
  }

  async function next() {
    $("error").hidden = true;
    show("trial");
    $("discrimination").hidden = true;
    $("trust").hidden = true;
    $("loading").hidden = false;
    try {
      trial = await call("/study/api/trials", { participant });
    } catch (error) {
      fail("Could not load the next picture: " + error.message, next);
      return;
    }
    if (trial.done) { show("done"); return; }
    $("progress-text").textContent = "Picture " + trial.number + " of " + trial.total;
    $("progress-bar").style.width = (100 * (trial.number - 1) / trial.total) + "%";
    const images = [];
    if (trial.task === "discrimination") {
      $("question").textContent = trial.question;
      const options = $("options");
      options.replaceChildren();
      trial.options.forEach((option, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.dataset.answer = option.class;
        button.innerHTML = '<kbd>' + (i + 1) + '</kbd> ';
        button.append(document.createTextNode(option.label));
        button.addEventListener("click", () => answer(option.class));
        options.append(button);
      });
      $("map").src = trial.pictures.map;
      images.push($("map"));
    } else {
      $("trust-question").textContent = trial.question;
      $("prediction").textContent = trial.prediction;
      const ratings = $("ratings");
      ratings.replaceChildren();
      for (const rating of trial.ratings) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "rating";
        button.dataset.answer = rating.value;
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = rating.value > 0 ? "+" + rating.value : String(rating.value);
        button.append(value, document.createTextNode(rating.label));
        button.addEventListener("click", () => answer(rating.value));
        ratings.append(button);
      }
      for (const id of ["photo", "a", "b"]) {
        $(id).src = trial.pictures[id];
        images.push($(id));
      }
    }
    setButtons(false);
    try {
      await loaded(images);
    } catch (error) {
      fail("Could not load the picture.", next);
      return;
    }
    $("loading").hidden = true;
    $(trial.task).hidden = false;
    setButtons(true);
    shownAt = performance.now();
  }

  async function answer(value) {
    if (!trial || shownAt === null) return;
    const responseMs = Math.round(performance.now() - shownAt);
    shownAt = null;
    setButtons(false);
    const send = async () => {
      try {
        await call("/study/api/answers", {
          trial_id: trial.trial_id, participant, answer: value, response_ms: responseMs,
        });
      } catch (error) {
        fail("Your answer was not saved: " + error.message, send);
        return;
      }
      next();
    };
    send();
  }

  document.addEventListener("keydown", (event) => {
    if (!trial || trial.task !== "discrimination" || shownAt === null) return;
    const index = Number(event.key) - 1;
    if (index === 0 || index === 1) answer(trial.options[index].class);
  });

  $("start").addEventListener("click", next);
  $("next-participant").addEventListener("click", () => {
    // a shared computer: the next person gets a new id (and no ?participant= of the last one)
    localStorage.removeItem(KEY);
    location.replace(location.pathname);
  });
  $("retry").addEventListener("click", () => { $("error").hidden = true; if (retry) retry(); });

  (async function main() {
    try {
      await identify();
      const study = await fetch("/study/api/study").then((r) => r.json());
      if (study.config) $("intro-total").textContent = String(study.config.trials);
    } catch (error) {
      fail("The study could not start: " + error.message, main);
      return;
    }
    show("intro");
  })();
})();
