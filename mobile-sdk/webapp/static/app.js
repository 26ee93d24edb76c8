// The page's script: screens and events only. Everything stored or sent goes
// through the Go engine (app.wasm) as the global `joinedup`.
"use strict";

const $ = (id) => document.getElementById(id);
const screens = ["loading", "enrol", "home", "new", "edit"];
let editing = "";
function show(name) { for (const s of screens) $(s).hidden = s !== name; }

function setNet() {
  const on = navigator.onLine;
  $("net").textContent = on ? "Online" : "Offline – saves are kept on this phone";
  $("net").classList.toggle("offline", !on);
}

async function refresh() {
  const st = await joinedup.status();
  if (!st.enrolled) { show("enrol"); return; }
  $("pending").textContent = String(st.pending);
  $("last-synced").textContent = st.last_synced_ms ? new Date(st.last_synced_ms).toLocaleTimeString() : "never";
  const list = $("encounters");
  list.replaceChildren();
  const encs = await joinedup.encounters();
  for (const e of encs) {
    const li = document.createElement("li");
    const h = document.createElement("strong");
    h.textContent = e.area;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = "Concern: " + (e.concern_level || "none") + " · " + new Date(e.started_at).toLocaleTimeString();
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = e.note;
    const edit = document.createElement("button");
    edit.type = "button";
    edit.className = "secondary edit";
    edit.textContent = "Edit note";
    edit.addEventListener("click", () => {
      editing = e.id;
      $("edit-area").textContent = e.area;
      $("edit-note").value = e.note;
      $("edit-error").textContent = "";
      show("edit");
    });
    li.append(h, meta, note, edit);
    list.append(li);
  }
  $("none").hidden = encs.length > 0;
}

let syncing = false;
async function sync() {
  if (syncing || !navigator.onLine) return;
  syncing = true;
  try { await joinedup.sync(); } catch (e) { /* kept: the status shows pending saves */ }
  finally { syncing = false; }
  await refresh().catch(() => {});
}

async function start() {
  await joinedup.ready();
  setNet();
  await refresh();
  if (!$("enrol").hidden) return;
  show("home");
  sync();
}

$("enrol-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("enrol-error").textContent = "";
  try {
    await joinedup.enrol($("code").value.trim());
    $("code").value = "";
    show("home");
    await sync();
    await refresh();
  } catch (e) { $("enrol-error").textContent = "That code did not work: " + e.message; }
});

$("add").addEventListener("click", () => { $("enc-form").reset(); show("new"); $("area").focus(); });
$("cancel").addEventListener("click", () => show("home"));
$("sync-now").addEventListener("click", () => sync());

$("enc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData($("enc-form"));
  try {
    await joinedup.addEncounter({ area: f.get("area"), concern_level: f.get("concern_level"), note: f.get("note") });
    show("home");
    await refresh();
    sync();
  } catch (e) { $("enc-error").textContent = "Not saved: " + e.message; }
});

$("edit-cancel").addEventListener("click", () => show("home"));
$("edit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await joinedup.editNote(editing, $("edit-note").value);
    show("home");
    await refresh();
    sync();
  } catch (e) { $("edit-error").textContent = "Not saved: " + e.message; }
});

addEventListener("online", () => { setNet(); sync(); });
addEventListener("offline", setNet);
setInterval(sync, 30000);

if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});

const go = new Go();
addEventListener("joinedup-ready", () => start().catch((e) => { $("loading").textContent = "The app could not start: " + e.message; }), { once: true });
WebAssembly.instantiateStreaming(fetch("app.wasm"), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => { $("loading").textContent = "The app could not load: " + e.message; });
