// The experimenter's form: sent as JSON to /study/api/studies; errors shown with the valid choices.
(function () {
  "use strict";
  const form = document.getElementById("setup");
  const status = document.getElementById("status");

  function checked(name) {
    return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map((i) => i.value);
  }

  function source() {
    const radio = form.querySelector('input[name="images"]:checked');
    return radio ? radio.value : "samples";
  }

  form.addEventListener("change", (event) => {
    if (event.target.name !== "images") return;
    for (const list of form.querySelectorAll(".images")) list.hidden = list.dataset.source !== source();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const images = source();
    const all = form.querySelectorAll('input[name="selected-' + images + '"]');
    const selected = checked("selected-" + images);
    const body = {
      name: form.elements.name.value,
      tasks: checked("tasks"),
      images,
      selected: selected.length === all.length ? [] : selected,
      discrimination_model: form.elements.discrimination_model.value,
      discrimination_methods: checked("discrimination_methods"),
      trust_models: [form.elements.trust_model_a.value, form.elements.trust_model_b.value],
      trust_methods: checked("trust_methods"),
      trials: Number(form.elements.trials.value),
    };
    status.className = "";
    status.textContent = "Saving…";
    const response = await fetch("/study/api/studies", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      status.className = "ok";
      status.innerHTML = "Saved as study #" + data.study_id + '. <a href="/study">Open the study page</a>';
    } else {
      const detail = data.detail || {};
      status.className = "bad";
      status.textContent = detail.message || JSON.stringify(detail);
    }
  });
})();
