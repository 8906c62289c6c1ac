// mmv-edge's page: search (text, a dropped image or sound, "more like this"), per-file tag
// timelines and, on the daemon, the live view. Everything comes from this server's JSON API.
// The location's hash holds the current view (#q=TEXT, #like=CLIP, #file=ID), so a link or a
// reload shows the same results.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fmtTime(s) {
  const m = Math.floor(s / 60);
  const sec = (s - 60 * m).toFixed(1).padStart(4, "0");
  return `${m}:${sec}`;
}

async function api(path, options) {
  const r = await fetch(path, options);
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : `HTTP ${r.status}`;
    throw new Error(msg);
  }
  return body;
}

function setStatus(text) { $("status").textContent = text; }

function showResults(res, label) {
  const grid = $("results");
  grid.replaceChildren();
  for (const h of res.hits) {
    const below = h.below_cut === true;
    const pic = h.thumbnail
      ? el("img", { src: h.thumbnail, alt: `${h.modality} ${h.name} ${fmtTime(h.start_s)}`, loading: "lazy" })
      : el("div", { class: "audio", title: "audio" }, "♪");
    const links = el("div", {});
    // Fleet hits (with a device) have no local clip to search from or timeline to show.
    if (h.thumbnail && !h.device) links.append(el("a", { href: `#like=${h.segment_id}`, title: "search with this picture" }, "similar"));
    if (h.file_id) links.append(el("a", { href: `#file=${h.file_id}` }, "timeline"));
    const card = el("div", {
      class: below ? "hit below" : "hit",
      dataset: { rank: h.rank, segment: h.segment_id, name: h.name, modality: h.modality, score: h.score.toFixed(3), device: h.device || "" },
    },
      pic,
      el("div", { class: "meta" },
        el("div", { title: h.path }, `${h.rank}. ${h.name}`, h.device ? el("span", { class: "badge device" }, h.device) : ""),
        el("div", {}, `${fmtTime(h.start_s)}–${fmtTime(h.end_s)} `, el("span", { class: "badge" }, h.modality)),
        el("div", {}, `score ${h.score.toFixed(3)} `, below ? el("span", { class: "badge cut", title: "under the model's open-set cut: no label would be given" }, "below cut") : ""),
        links));
    grid.append(card);
  }
  grid.dataset.state = "done";
  grid.dataset.count = res.hits.length;
  setStatus(`${label}: ${res.hits.length} of ${res.rows_searched} rows (query ${res.embed_ms.toFixed(0)} ms, search ${res.search_ms.toFixed(1)} ms)`);
}

function failed(where, e) {
  where.dataset.state = "error";
  setStatus(`Error: ${e.message}`);
}

function modalityParam() {
  const m = $("modality").value;
  return m ? `&modality=${encodeURIComponent(m)}` : "";
}

async function searchText(q) {
  $("q").value = q;
  $("results").dataset.state = "busy";
  setStatus(`Searching for “${q}”…`);
  try {
    showResults(await api(`/api/search?q=${encodeURIComponent(q)}${modalityParam()}`), `“${q}”`);
  } catch (e) { failed($("results"), e); }
}

async function searchLike(id) {
  $("results").dataset.state = "busy";
  setStatus(`Searching like clip ${id}…`);
  try {
    showResults(await api(`/api/similar/${encodeURIComponent(id)}?${modalityParam().slice(1)}`), `like clip ${id}`);
  } catch (e) { failed($("results"), e); }
}

async function searchFile(file) {
  $("results").dataset.state = "busy";
  setStatus(`Searching with ${file.name}…`);
  try {
    const res = await api(`/api/search/upload?${modalityParam().slice(1)}`, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    showResults(res, file.name);
  } catch (e) { failed($("results"), e); }
}

async function showTimeline(id) {
  const panel = $("timeline-panel");
  const box = $("timeline");
  panel.hidden = false;
  box.dataset.state = "busy";
  try {
    const t = await api(`/api/files/${encodeURIComponent(id)}`);
    $("timeline-title").textContent = `Timeline: ${t.file.name}`;
    const end = Math.max(t.file.duration_s || 0, ...t.clips.map((c) => c.end_s), 1e-3);
    const byModality = {};
    for (const c of t.clips) (byModality[c.modality] ||= []).push(c);
    box.replaceChildren();
    for (const [m, clips] of Object.entries(byModality)) {
      const track = el("div", { class: "track", dataset: { modality: m } });
      for (const c of clips) {
        const best = c.tags[0];
        const present = best && best.present;
        const seg = el("div", {
          class: present ? "seg" : "seg absent",
          title: `${fmtTime(c.start_s)}–${fmtTime(c.end_s)}: ` + c.tags.map((t) => `${t.label} ${t.similarity.toFixed(2)}${t.present ? "" : " (below cut)"}`).join(", "),
          dataset: { label: best ? best.label : "", present: present ? "1" : "0" },
        }, best ? (present ? best.label : `(${best.label})`) : "–");
        seg.style.left = `${(100 * c.start_s) / end}%`;
        seg.style.width = `${(100 * (c.end_s - c.start_s)) / end}%`;
        track.append(seg);
      }
      box.append(el("div", { class: "track-label" }, m), track);
    }
    box.dataset.state = "done";
    panel.scrollIntoView();
  } catch (e) { failed(box, e); }
}

async function loadFiles() {
  try {
    const r = await api("/api/files");
    const list = $("files");
    list.replaceChildren(...r.files.map((f) => el("li", {},
      el("a", { href: `#file=${f.id}` }, f.name),
      ` ${f.kind}, ${f.clips} clips${f.duration_s ? `, ${f.duration_s.toFixed(1)} s` : ""}${f.status === "complete" ? "" : " (indexing)"}`)));
  } catch (e) { $("files").replaceChildren(el("li", { class: "muted" }, e.message)); }
}

function startLive() {
  $("live").hidden = false;
  const img = $("overlay");
  const refresh = () => { img.src = `/api/live/overlay.png?t=${Date.now()}`; };
  refresh();
  setInterval(refresh, 1000);
  const tags = $("live-tags");
  const events = $("live-events");
  const src = new EventSource("/api/live/events");
  src.addEventListener("tag", (m) => {
    const t = JSON.parse(m.data);
    const key = `${t.source}/${t.modality}`;
    let li = tags.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!li) { li = el("li", { dataset: { key } }); tags.append(li); }
    li.textContent = `${key}: ` + (t.tags || []).map((x) => `${x.label} ${x.similarity.toFixed(2)}${x.present ? "" : "?"}`).join(", ");
  });
  src.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    events.prepend(el("li", {}, `${e.event} ${e.label} (${e.source} ${e.modality}) at ${fmtTime(e.start_s)}${e.end_s != null ? `–${fmtTime(e.end_s)}` : ""}`));
    while (events.children.length > 100) events.lastChild.remove();
  });
  const health = async () => {
    try { $("health").textContent = JSON.stringify((await api("/api/live/health")).health); } catch (_) { /* later */ }
  };
  health();
  setInterval(health, 5000);
}

function route() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has("q")) searchText(h.get("q"));
  else if (h.has("like")) searchLike(h.get("like"));
  if (h.has("file")) showTimeline(h.get("file"));
}

async function init() {
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("q").value.trim();
    if (!q) return;
    if (location.hash === `#q=${encodeURIComponent(q)}`) searchText(q);
    else location.hash = `q=${encodeURIComponent(q)}`;
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    const f = ev.dataTransfer.files[0];
    if (f) searchFile(f);
  });
  $("file").addEventListener("change", (ev) => { const f = ev.target.files[0]; if (f) searchFile(f); });
  window.addEventListener("hashchange", route);
  try {
    const info = await api("/api/info");
    if (info.model && info.fleet) {
      $("model").textContent = `${info.model.name} ${info.model.version} (${info.precision}) · fleet ${info.fleet.database}: ${info.fleet.devices} devices, ${info.fleet.rows} rows`;
      $("files-panel").hidden = true;
    } else if (info.model) {
      const rows = info.index ? info.index.rows_loaded : 0;
      $("model").textContent = `${info.model.name} ${info.model.version} (${info.precision}) · ${info.index.name}: ${info.index.files_complete} files, ${rows} rows`;
    } else {
      $("model").textContent = "no index";
      $("search-panel").hidden = true;
      $("files-panel").hidden = true;
    }
    if (info.live) startLive();
    if (info.model && !info.fleet) loadFiles();
  } catch (e) { $("model").textContent = `Error: ${e.message}`; }
  route();
}

init();
