// seewhy's page: builds a POST /api/explain request from the controls and draws the answer.
// Plain JavaScript, no build step, nothing fetched from anywhere but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const DEFAULT_METHODS = ["gradcam", "gradcam++", "layercam"];
const state = { files: [], classes: [], labels: {}, last: null, lastImages: [] };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${url}: HTTP ${response.status}`);
  return body;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// ---- images -------------------------------------------------------------------------
function addFiles(files) {
  for (const file of files) state.files.push({ file, url: URL.createObjectURL(file) });
  drawChosen();
}

function drawChosen() {
  const list = $("chosen");
  list.replaceChildren();
  state.files.forEach((entry, i) => {
    const isImage = entry.file.type.startsWith("image/");
    list.append(el("li", {},
      isImage ? el("img", { src: entry.url, alt: "" })
        : el("span", { class: "thumb", text: (entry.file.name.split(".").pop() || "?").slice(0, 4) }),
      el("span", { text: entry.file.name, title: entry.file.name }),
      el("button", { class: "x", type: "button", title: "remove", "aria-label": `remove ${entry.file.name}`,
        onclick: () => { URL.revokeObjectURL(entry.url); state.files.splice(i, 1); drawChosen(); } }, "×")));
  });
}

async function loadSamples() {
  const samples = await getJSON("/api/samples");
  const box = $("samples");
  for (const sample of samples) {
    const url = `/api/samples/${encodeURIComponent(sample.id)}`;
    box.append(el("button", { type: "button", title: `${sample.title} (${sample.source})`, "data-sample": sample.id,
      onclick: async () => {
        const blob = await (await fetch(url)).blob();
        addFiles([new File([blob], `${sample.id}.png`, { type: "image/png" })]);
      } }, el("img", { src: url, alt: sample.title, loading: "lazy" }), sample.id.replace("_", " ")));
  }
}

function setupDrop() {
  const drop = $("drop");
  $("files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
  for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => addFiles(e.dataTransfer.files));
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("files").click(); });
}

// ---- models, layers, labels, methods --------------------------------------------------
async function loadModels() {
  const models = await getJSON("/api/models");
  for (const model of models) {
    $("model").append(el("option", { value: model.name, text: model.name }));
    $("compare").append(el("option", { value: model.name, text: model.name }));
  }
  $("model").addEventListener("change", () => loadModel($("model").value));
  await loadModel(models[0].name);
}

async function loadModel(name) {
  const layer = $("layer");
  layer.replaceChildren(el("option", { value: "auto", text: "auto (loading…)" }));
  try {
    const [layers, labels] = await Promise.all([
      getJSON(`/api/models/${encodeURIComponent(name)}/layers`),
      getJSON(`/api/models/${encodeURIComponent(name)}/labels`),
    ]);
    layer.replaceChildren(el("option", { value: "auto", text: `auto (${layers.auto})`, selected: true }));
    for (const info of layers.layers.slice().reverse()) {
      layer.append(el("option", { value: info.name, text: `${info.name}  ${info.shape.join("×")}` }));
    }
    state.labels[name] = labels.labels;
    $("labels").replaceChildren(...labels.labels.map((label, id) => el("option", { value: label, label: `${id}` })));
  } catch (error) {
    layer.replaceChildren(el("option", { value: "auto", text: "auto" }));
    showError(error.message);
  }
}

async function loadMethods() {
  const methods = await getJSON("/api/methods");
  const box = $("methods");
  for (const [family, title] of [["cam", "class activation maps"], ["input", "input space"]]) {
    box.append(el("h3", { text: title }));
    for (const method of methods.filter((m) => m.family === family)) {
      box.append(el("label", { title: method.summary },
        el("input", { type: "checkbox", value: method.name, checked: DEFAULT_METHODS.includes(method.name) }),
        ` ${method.name.replaceAll("_", "_\u200b")}`));  // long names wrap after "_"
    }
  }
}

// ---- classes -------------------------------------------------------------------------
function addClass(text) {
  const value = String(text).trim();
  if (!value) return;
  if (!state.classes.includes(value)) state.classes.push(value);
  document.querySelector('input[name="targets-mode"][value="classes"]').checked = true;
  drawClasses();
}

function drawClasses() {
  $("class-chips").replaceChildren(...state.classes.map((name, i) => el("li", {}, name,
    el("button", { class: "x", type: "button", "aria-label": `remove ${name}`,
      onclick: () => { state.classes.splice(i, 1); drawClasses(); } }, "×"))));
}

function targets() {
  const mode = document.querySelector('input[name="targets-mode"]:checked').value;
  if (mode === "classes" && state.classes.length) return state.classes.join(",");
  return `top${$("topk").value}`;
}

// ---- the request ---------------------------------------------------------------------
function buildForm(files) {
  const form = new FormData();
  for (const entry of files) form.append("image", entry.file, entry.file.name);
  form.append("model", $("model").value);
  if ($("compare").value && $("compare").value !== $("model").value) form.append("model", $("compare").value);
  form.append("layer", $("layer").value);
  const methods = [...document.querySelectorAll("#methods input:checked")].map((box) => box.value);
  form.append("methods", methods.join(","));
  form.append("targets", targets());
  form.append("score", $("score").value);
  form.append("counterfactual", $("counterfactual").checked ? "true" : "false");
  form.append("faithfulness_steps", $("steps").value);
  return form;
}

function post(form, onUpload) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/explain");
    request.responseType = "json";
    request.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onUpload(e.loaded / e.total); });
    request.upload.addEventListener("load", () => onUpload(1));
    request.addEventListener("load", () => {
      const body = request.response || {};
      if (request.status === 200) resolve(body);
      else {
        let message = body.detail || `the server answered HTTP ${request.status}`;
        if (request.status === 503) message += ` (try again in ${request.getResponseHeader("Retry-After") || "a few"} s)`;
        reject(new Error(message));
      }
    });
    request.addEventListener("error", () => reject(new Error("the server could not be reached")));
    request.send(form);
  });
}

async function explain() {
  showError("");
  if (!state.files.length) { showError("Choose at least one image (or a sample photo) first."); return; }
  if (!document.querySelector("#methods input:checked")) { showError("Choose at least one method."); return; }
  const button = $("explain");
  button.disabled = true;
  const progress = $("progress"), text = $("progress-text"), fill = progress.querySelector(".fill");
  progress.hidden = false;
  const started = performance.now();
  let phase = "Uploading";
  const tick = () => { text.textContent = `${phase}… ${((performance.now() - started) / 1000).toFixed(1)} s`; };
  tick();
  const timer = setInterval(tick, 100);
  fill.classList.remove("moving");
  fill.style.width = "0%";
  try {
    const answer = await post(buildForm(state.files), (share) => {
      if (share >= 1) { phase = "Explaining"; fill.style.width = "30%"; fill.classList.add("moving"); }
      else fill.style.width = `${Math.round(share * 100)}%`;
    });
    state.last = answer;
    draw(answer);
    $("results").classList.remove("stale");
  } catch (error) {
    showError(error.message);
    $("results").classList.add("stale"); // what is shown is the previous answer
  } finally {
    clearInterval(timer);
    progress.hidden = true;
    fill.classList.remove("moving");
    button.disabled = false;
  }
}

// ---- drawing the answer ----------------------------------------------------------------
const fmt = (value) => (Math.abs(value) >= 100 || (Math.abs(value) < 0.01 && value !== 0) ? value.toPrecision(3) : value.toFixed(2));

function draw(answer) {
  $("empty").hidden = true;
  $("toolbar").hidden = false;
  const t = answer.timings;
  $("timing").textContent = `${answer.images.length} image${answer.images.length > 1 ? "s" : ""} · ` +
    `explain ${Math.round(t.explain)} ms · ` +
    (answer.faithfulness.steps ? `faithfulness (${answer.faithfulness.steps} steps) ${Math.round(t.faithfulness)} ms · ` : "faithfulness off · ") +
    `total ${Math.round(t.total)} ms`;
  const results = $("results");
  results.replaceChildren();
  for (const image of answer.images) {
    const block = el("article", { class: "image-block", "data-name": image.name },
      el("h2", {}, image.name, el("small", { text: `${image.width} × ${image.height}` })));
    const models = el("div", { class: "models" });
    for (const result of image.results) models.append(drawModel(answer, result));
    block.append(models);
    results.append(block);
  }
  applyOpacity();
}

function drawModel(answer, result) {
  const box = el("section", { class: "model-block", "data-model": result.model });
  const layers = [...new Set(Object.values(result.layers).flat())].join(", ");
  box.append(el("h3", {}, result.model, el("span", { class: "muted", text: layers ? `  · layer ${layers}` : "" })));
  const preds = el("div", { class: "preds", "aria-label": "top 5" });
  result.predictions.forEach((p, k) => {
    const name = p.label || `class ${p.class_id}`;
    preds.append(
      el("button", { class: "pred-name", type: "button", title: `explain ${name} (${p.class_id})`,
        onclick: () => { state.classes = [p.label || String(p.class_id)]; drawClasses();
          document.querySelector('input[name="targets-mode"][value="classes"]').checked = true; explain(); } }, name),
      el("div", { class: `pred-bar${k === 0 ? " first" : ""}` }, el("div", { style: `width:${(p.prob * 100).toFixed(1)}%` })),
      el("span", { class: "pred-p", text: `${(p.prob * 100).toFixed(1)}%` }));
  });
  box.append(preds);
  const methods = answer.methods;
  const grid = el("div", { class: "grid", style: `grid-template-columns: minmax(80px, 140px) repeat(${methods.length}, minmax(96px, 224px))` });
  grid.append(el("div"));
  for (const method of methods) {
    const head = el("div", { class: "colhead" }, method);
    const layer = result.layers[method];
    if (layer) head.append(el("span", { class: "layer", text: [].concat(layer).join(" + ") }));
    const scale = result.scales[method];
    if (scale) head.append(el("div", { class: "scale", title: scale.caption },
      el("span", { text: fmt(scale.low) }), el("img", { src: scale.colorbar, alt: `${scale.kind} colour scale` }),
      el("span", { text: fmt(scale.high) })));
    else if (result.maps[method]) head.append(el("div", { class: "scale", text: "gradient image, grey = 0" }));
    grid.append(head);
  }
  const best = bestPerRow(result, methods);
  result.targets.forEach((target, t) => {
    const against = answer.counterfactual ? "against: " : "";
    grid.append(el("div", { class: "rowhead" },
      el("b", { text: against + (target.label || `class ${target.class_id}`) }),
      el("span", { text: `id ${target.class_id} · p = ${target.prob.toFixed(3)}` })));
    for (const method of methods) grid.append(drawCell(result, method, t, best[t]));
  });
  box.append(grid);
  return box;
}

function bestPerRow(result, methods) {
  // the method with the lowest deletion and the one with the highest insertion AUC per row
  return result.targets.map((_, t) => {
    let del = null, ins = null;
    for (const m of methods) {
      const f = result.maps[m] && result.maps[m][t].faithfulness;
      if (!f) continue;
      if (!del || f.deletion_auc < del[1]) del = [m, f.deletion_auc];
      if (!ins || f.insertion_auc > ins[1]) ins = [m, f.insertion_auc];
    }
    return { del: del && del[0], ins: ins && ins[0] };
  });
}

function drawCell(result, method, t, best) {
  const maps = result.maps[method];
  if (!maps) return el("div", { class: "refused", text: `not run: ${result.refused[method] || "refused"}` });
  const entry = maps[t];
  const stack = el("div", { class: "stack" });
  if (entry.blend) {
    stack.append(el("img", { src: result.input, alt: "input" }));
    stack.append(el("img", { class: "overlay blend", src: entry.png, alt: `${method} map` }));
  } else {
    stack.append(el("img", { class: "overlay", src: entry.png, alt: `${method} map` }));
  }
  if (entry.box) {
    const [x0, y0, x1, y1] = entry.box; // inclusive, in the pixels of result.input
    const [w, h] = result.size;
    stack.append(el("div", { class: "box", style:
      `left:${(x0 / w) * 100}%;top:${(y0 / h) * 100}%;width:${((x1 - x0 + 1) / w) * 100}%;height:${((y1 - y0 + 1) / h) * 100}%` }));
  }
  const cell = el("div", { class: "cell" }, stack);
  const f = entry.faithfulness;
  if (f) {
    cell.append(el("div", { class: "faith", title: "deletion AUC (lower is better) · insertion AUC (higher is better)" },
      "del ", el("b", { class: best.del === method ? "best" : "", text: f.deletion_auc.toFixed(3) }),
      " · ins ", el("b", { class: best.ins === method ? "best" : "", text: f.insertion_auc.toFixed(3) })));
  }
  return cell;
}

function applyOpacity() {
  const value = $("opacity").value / 100;
  for (const img of document.querySelectorAll(".stack img.blend")) img.style.opacity = value;
  $("results").classList.toggle("hide-boxes", !$("show-boxes").checked);
}

async function download() {
  if (!state.last) return;
  showError("");
  try {
    const response = await fetch("/api/archive", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(state.last) });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || `HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: "seewhy.zip" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (error) {
    showError(`Download failed: ${error.message}`);
  }
}

async function start() {
  setupDrop();
  $("explain").addEventListener("click", explain);
  $("opacity").addEventListener("input", applyOpacity);
  $("show-boxes").addEventListener("change", applyOpacity);
  $("download").addEventListener("click", download);
  $("class-add").addEventListener("click", () => { addClass($("class-input").value); $("class-input").value = ""; });
  $("class-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); addClass($("class-input").value); $("class-input").value = ""; }
  });
  try {
    const health = await getJSON("/api/health");
    $("study-link").hidden = !health.study;
    await Promise.all([loadMethods(), loadSamples(), loadModels()]);
    document.body.dataset.ready = "true";
  } catch (error) {
    showError(`The page could not start: ${error.message}`);
  }
}

start();
