// The page's script: screens and events only. Everything stored or sent goes
// through the SDK's Go client (app.wasm) as the global `joinedup`.
//
// Nothing personal ever goes in the URL or the browser's history: screens
// change in place (no routes, no query strings, no history entries), and
// record ids stay in memory.
"use strict";

const $ = (id) => document.getElementById(id);
const screens = ["loading", "enrol", "home", "new", "edit", "people", "person-new", "person", "referral", "followups", "conflicts", "sync"];
const state = { editing: "", person: null, referral: null, pendingAtStart: 0, youngPeople: [] };

function show(name) {
  for (const s of screens) $(s).hidden = s !== name;
  // Forms have their own Save and Cancel; the nav would only cover them.
  $("nav").hidden = ["loading", "enrol", "new", "edit", "person-new", "referral"].includes(name);
  for (const b of document.querySelectorAll("#nav [data-go]")) {
    if (b.dataset.go === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  window.scrollTo(0, 0);
}

// el builds an element; strings become text, never HTML.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const val = (v, f) => (v && v.values && v.values[f] !== undefined && v.values[f] !== null ? v.values[f] : "");
const when = (s) => (s ? new Date(s).toLocaleString(i18n.lang === "cy" ? "cy-GB" : "en-GB", { weekday: "short", hour: "2-digit", minute: "2-digit", day: "numeric", month: "short" }) : "");
const time = (ms) => new Date(ms).toLocaleTimeString(i18n.lang === "cy" ? "cy-GB" : "en-GB");

function setNet() {
  const on = navigator.onLine;
  $("net").textContent = on ? t("Online") : t("Offline – saves are kept on this phone");
  $("net").classList.toggle("offline", !on);
  $("st-online").textContent = on ? t("Online") : t("Offline");
}

function fail(id, e) { $(id).textContent = t("Not saved:") + " " + errText(e); }

// ---- errors in the app's language ----
// The server words a refusal in the language the app sends (the SDK's
// SetLanguage) when its catalogue has it, and says so (e.lang). Anything
// else is worded here: a save the schema refuses on the phone by its broken
// rules (e.fields), any other error by its code. errorWords has a sentence
// for every code the server and the SDK return (TestEveryErrorCodeHasWelsh).
const errorWords = {
  invalid: () => t("This is not allowed."),
  not_found: () => t("That record is not on the server or not yours to see."),
  conflict: () => t("This clashes with what is already saved."),
  too_large: () => t("This is too large to send."),
  malformed: () => t("The server could not read what the phone sent."),
  missing_dependency: () => t("This save waits for earlier saves to reach the server."),
  erased: () => t("This record was erased."),
  internal: () => t("Something went wrong on the server. Try again later."),
  unauthorized: () => t("The server does not know this phone or this code."),
  forbidden: () => t("You are not allowed to make this change."),
  revoked: () => t("This phone was removed from the service."),
  rate_limited: () => t("Too many tries: wait a moment and try again."),
  unavailable: () => t("The server is busy or down: your saves are kept."),
  cursor_ahead: () => t("The server was restored from a backup: this phone sends its saves again."),
  held_limit: () => t("Too many saves are waiting for earlier ones: they are kept and sent later."),
  storage_full: () => t("The server is full: your saves are kept and sent later."),
  storage_fault: () => t("The server could not store this: your saves are kept and sent later."),
  database_corrupt: () => t("The server needs repair: your saves are kept and sent later."),
  unsynced_work: () => t("Some saves have not reached the server yet."),
  not_enrolled: () => t("This phone is not set up: enter a code from your supervisor."),
  offline: () => t("No signal: your saves are kept on this phone."),
  network: () => t("The server could not be reached: your saves are kept on this phone."),
  wiped: () => t("This phone's data was wiped."),
  wrong_key: () => t("This phone's data cannot be opened."),
  corrupt: () => t("This phone's data is damaged."),
  protocol: () => t("The server answered something this app does not understand: update the app."),
};

// ruleWords word one broken schema rule of a field (syncengine's validate
// tags), fieldWords the fields a worker fills in.
const ruleWords = {
  required: (f) => t("%s: fill this in.", f),
  required_if: (f) => t("%s: fill this in.", f),
  required_unless: (f) => t("%s: fill this in.", f),
  max: (f) => t("%s: this is too long.", f),
  oneof: (f) => t("%s: choose one of the choices.", f),
  nocoords: (f) => t("%s: no map coordinates; name the place instead.", f),
  recordid: (f) => t("%s: this does not name a record.", f),
  type: (f) => t("%s: this is the wrong kind of value.", f),
  gte: (f) => t("%s: the number is too small.", f),
  lte: (f) => t("%s: the number is too large.", f),
  tallykey: (f) => t("%s: this is not a tally the app knows.", f),
  gtefield: (f) => t("%s: this is before the start.", f),
};
const fieldWords = {
  area: () => t("Area"), note: () => t("Note"), known_as: () => t("Known as"), age_band: () => t("Age band"),
  topics: () => t("Topics"), tallies: () => t("Tallies"), concern_level: () => t("Concern level"),
  young_people: () => t("Young people met"), workers: () => t("Workers present"), reason: () => t("Reason"),
  urgency: () => t("Urgency"), consent: () => t("Consent"), consent_justification: () => t("Why share without consent"),
  service_id: () => t("Service"),
};

function errText(e) {
  if (!e) return "";
  const fields = Array.isArray(e.fields) ? e.fields : [];
  if (e.code === "invalid" && fields.length) {
    return fields.map((f) => (ruleWords[f.rule] || ruleWords.type)(fieldWords[f.field] ? fieldWords[f.field]() : f.field)).join(" ");
  }
  return codeText(e.code, e.message || String(e), e.lang || "en");
}

// codeText is msg when it is in the app's language, else the code's words.
function codeText(code, msg, msgLang) {
  if ((msgLang || "en") === i18n.lang && msg) return msg;
  return errorWords[code] ? errorWords[code]() : msg;
}

// ---- status ----

async function refreshStatus() {
  const st = await joinedup.status();
  if (!st.enrolled) return st;
  const pending = String(st.pending || 0);
  $("pending").textContent = pending;
  $("st-pending").textContent = pending;
  $("nav-pending").textContent = pending;
  $("nav-pending").hidden = pending === "0";
  const last = st.last_synced_ms ? time(st.last_synced_ms) : t("never");
  $("last-synced").textContent = last;
  $("st-last").textContent = last;
  // A stored message's language is not known: English is shown as it is,
  // in Welsh the code's words.
  $("st-error").textContent = st.last_error ? t("The last sync failed:") + " " + codeText(st.last_error_code, st.last_error) : "";
  const q = $("st-quarantined");
  q.replaceChildren(...(st.quarantined || []).map((x) => el("li", {}, el("strong", {}, x.direction === "push" ? t("A save the server refused") : t("A change that could not be applied here")), el("div", { class: "meta" }, codeText(x.code, x.message)))));
  return st;
}

function progress(p) {
  // The SDK reports round trips; the fraction is of the saves waiting when
  // the sync began, or the SDK's own fraction when it gives one.
  let done = 0, total = 0;
  if (typeof p.fraction === "number") { done = p.fraction; total = 1; }
  else { total = Math.max(state.pendingAtStart, 1); done = Math.min(total, (state.acked = (state.acked || 0) + (p.phase === "stored" ? p.acknowledged : 0))); }
  $("st-progress-box").hidden = false;
  $("st-progress").max = total;
  $("st-progress").value = done;
  $("st-progress-text").textContent = typeof p.fraction === "number" ? t("Done: %s", Math.round(p.fraction * 100) + "%") : t("%d of %d saves sent", done, state.pendingAtStart) + (p.more ? " · " + t("receiving more…") : "");
}

let syncing = false;
async function sync() {
  if (syncing || !navigator.onLine) return;
  syncing = true;
  try {
    const st = await joinedup.status();
    state.pendingAtStart = st.pending || 0;
    state.acked = 0;
    await joinedup.sync();
  } catch (e) { /* kept: the status shows pending saves and the error */ }
  finally { syncing = false; }
  await refresh().catch(() => {});
}

// ---- tonight ----

// refresh shows the list and the status together, so the page never shows
// a count of saves that its list does not show yet.
async function refresh() {
  const st0 = await joinedup.status();
  if (!st0.enrolled) { show("enrol"); return; }
  const encs = await joinedup.encounters();
  await refreshStatus();
  encs.sort((a, b) => String(val(b, "started_at")).localeCompare(String(val(a, "started_at"))));
  const list = $("encounters");
  list.replaceChildren(...encs.map((e) => el("li", {},
    el("strong", {}, val(e, "area")),
    el("div", { class: "meta" }, t("Concern:") + " " + t(cap(val(e, "concern_level") || "none")) + " · " + when(val(e, "started_at"))),
    el("p", { class: "note" }, val(e, "note")),
    (e.conflicts || []).length ? el("p", { class: "warn" }, t("Conflicting edits")) : null,
    el("button", { type: "button", class: "secondary edit", textContent: t("Edit note"), on: { click: () => editNote(e) } }))));
  $("none").hidden = encs.length > 0;
  list.dataset.shown = "1"; // the list is what the store holds (tests wait for it)
  await refreshConflictBanner();
}

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

function editNote(e) {
  state.editing = e.id;
  $("edit-area").textContent = val(e, "area");
  $("edit-note").value = val(e, "note");
  $("edit-error").textContent = "";
  clearTimeout(live.timer);
  Object.assign(live, { timer: 0, shadow: val(e, "note"), broken: false });
  show("edit");
  $("edit-note").focus();
  livePump(); // the list may be older than the store
}

// ---- live note ----
// While the note is open and the phone online, what the worker types goes
// into the store as text operations (EditText: a delete and an insert)
// 300 ms after the last keystroke; each save pokes the SDK's sync loop,
// which runs one sync at a time. A sync (ours, or one a live-channel poke
// starts) ends in a status event; the editor then reads the note back and
// merges what others wrote into the textarea around the caret. live.shadow
// is the text the editor and the store last agreed on: the local change is
// the textarea against it. Offline, or after a failed write, Save replaces
// the text as it always did.
const live = { timer: 0, shadow: "", broken: false, again: false, running: null };
const liveDelay = 300;

function liveSoon() {
  clearTimeout(live.timer);
  live.timer = setTimeout(() => { live.timer = 0; livePump(); }, liveDelay);
}

// livePump runs liveStep until nothing is left to do, never twice at once.
function livePump() {
  live.again = true;
  if (!live.running) {
    live.running = (async () => { while (live.again) { live.again = false; await liveStep(); } })()
      .catch((e) => { live.broken = true; fail("edit-error", e); })
      .finally(() => { live.running = null; });
  }
  return live.running;
}

// change is the one span where a and b differ (UTF-16 offsets, never
// splitting a surrogate pair).
function change(a, b) {
  const m = Math.min(a.length, b.length);
  let p = 0;
  while (p < m && a[p] === b[p]) p++;
  if (p > 0 && /[\ud800-\udbff]/.test(a[p - 1])) p--;
  let s = 0;
  while (s < m - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  if (s > 0 && /[\udc00-\udfff]/.test(a[a.length - s])) s--;
  return { pos: p, del: a.length - p - s, ins: b.slice(p, b.length - s) };
}

async function liveStep() {
  const id = state.editing, ta = $("edit-note");
  if (!id || $("edit").hidden || live.broken || !navigator.onLine) return;
  const sent = ta.value;
  // editText moves our change past the others' words the store holds.
  const stored = sent !== live.shadow ? await joinedup.editText(id, "note", live.shadow, sent) : val(await joinedup.get(id), "note");
  if (state.editing !== id) return;
  live.shadow = sent;
  if (stored === sent) return;
  // Typed while the store was busy: send that first, then merge.
  if (ta.value !== sent) { live.again = true; return; }
  const d = change(sent, stored);
  const map = (i) => (i <= d.pos ? i : i >= d.pos + d.del ? i + d.ins.length - d.del : d.pos + d.ins.length);
  const s = ta.selectionStart, e = ta.selectionEnd, dir = ta.selectionDirection;
  ta.value = stored;
  ta.setSelectionRange(map(s), map(e), dir);
  live.shadow = stored;
}

async function newEncounter() {
  $("enc-form").reset();
  $("enc-error").textContent = "";
  // Workers present: this worker, checked, and the rest of the team's
  // roster as the server last sent it (only this phone's own teams).
  const [me, roster] = await Promise.all([joinedup.me().catch(() => ""), joinedup.workers ? joinedup.workers().catch(() => []) : []]);
  $("enc-me").querySelector("input").value = me;
  const crew = $("enc-workers");
  for (const old of crew.querySelectorAll("label:not(#enc-me)")) old.remove();
  for (const w of roster) if (w.id !== me) crew.append(el("label", {}, el("input", { type: "checkbox", name: "workers", value: w.id }), " ", w.name));
  const yps = await joinedup.list("young_person").catch(() => []);
  const box = $("enc-yp");
  for (const old of box.querySelectorAll("label")) old.remove();
  $("enc-yp-none").hidden = yps.length > 0;
  for (const y of yps) box.append(el("label", {}, el("input", { type: "checkbox", name: "young_people", value: y.id }), " ", val(y, "known_as")));
  show("new");
  $("area").focus();
}

async function saveEncounter(ev) {
  ev.preventDefault();
  const f = new FormData($("enc-form"));
  const level = f.get("concern_level") || "none";
  const fields = { area: f.get("area"), concern_level: level, concern: level !== "none", note: f.get("note"),
    topics: f.getAll("topics"), young_people: f.getAll("young_people"), workers: f.getAll("workers").filter(Boolean) };
  const tallies = {};
  for (const i of document.querySelectorAll("#enc-tallies input")) { const n = parseInt(i.value, 10); if (n > 0) tallies[i.dataset.key] = n; }
  if (Object.keys(tallies).length) fields.tallies = tallies;
  try {
    await joinedup.create("encounter", fields);
    show("home");
    await refresh();
  } catch (e) { fail("enc-error", e); }
}

// ---- young people ----

async function people() {
  state.youngPeople = await joinedup.list("young_person");
  state.youngPeople.sort((a, b) => String(val(a, "known_as")).localeCompare(String(val(b, "known_as"))));
  renderPeople();
  show("people");
}

function renderPeople() {
  const q = $("yp-search").value.trim().toLowerCase();
  const found = state.youngPeople.filter((y) => !q || String(val(y, "known_as")).toLowerCase().includes(q));
  $("yp-list").replaceChildren(...found.map((y) => el("li", {}, el("button", { type: "button", class: "row", on: { click: () => person(y) } },
    el("strong", {}, val(y, "known_as")), el("span", { class: "meta" }, val(y, "age_band") ? " · " + val(y, "age_band") : "")))));
  $("yp-none").hidden = found.length > 0;
}

async function person(y) {
  state.person = y;
  $("person-name").textContent = val(y, "known_as");
  const items = await joinedup.chronology(y.id);
  const services = await joinedup.services().catch(() => []);
  const svc = Object.fromEntries(services.map((s) => [s.id, val(s, "name")]));
  $("chronology").replaceChildren(...items.filter((r) => r.type !== "young_person").map((r) => {
    switch (r.type) {
      case "encounter":
        return el("li", {}, el("strong", {}, t("Encounter") + " · " + val(r, "area")), el("div", { class: "meta" }, when(val(r, "started_at"))), el("p", { class: "note" }, val(r, "note")));
      case "referral":
        return el("li", {}, el("strong", {}, t("Referral") + (svc[val(r, "service_id")] ? " · " + svc[val(r, "service_id")] : "")),
          el("div", { class: "meta" }, t(cap(val(r, "status") || "draft")) + (val(r, "urgency") ? " · " + t(cap(val(r, "urgency"))) : "")),
          val(r, "status") === "draft" ? el("button", { type: "button", class: "secondary", textContent: t("Continue the draft"), on: { click: () => referral(y, r) } }) : null);
      case "follow_up":
        return el("li", {}, el("strong", {}, t("Follow-up")), el("div", { class: "meta" }, when(val(r, "due_at")) + " · " + t(cap(val(r, "status") || "open"))), el("p", { class: "note" }, val(r, "note")));
      default:
        return el("li", {}, r.type);
    }
  }));
  if (!$("chronology").children.length) $("chronology").append(el("li", { class: "meta" }, t("Nothing yet.")));
  show("person");
}

async function saveYoungPerson(ev) {
  ev.preventDefault();
  const f = new FormData($("yp-form"));
  const fields = { known_as: f.get("known_as") };
  if (f.get("age_band")) fields.age_band = f.get("age_band");
  try {
    await joinedup.create("young_person", fields);
    $("yp-form").reset();
    await people();
  } catch (e) { fail("yp-error", e); }
}

// ---- referrals ----

async function referral(y, draft) {
  state.referral = draft || null;
  $("ref-form").reset();
  $("ref-error").textContent = "";
  $("ref-for").textContent = t("For") + " " + val(y, "known_as");
  const services = await joinedup.services().catch(() => []);
  services.sort((a, b) => String(val(a, "name")).localeCompare(String(val(b, "name"))));
  $("ref-service").replaceChildren(el("option", { value: "", textContent: t("Choose a service") }),
    ...services.map((s) => el("option", { value: s.id, textContent: val(s, "name") })));
  $("ref-no-services").hidden = services.length > 0;
  if (draft) {
    $("ref-service").value = val(draft, "service_id");
    $("ref-reason").value = val(draft, "reason");
    for (const n of ["urgency", "consent"]) {
      const r = document.querySelector(`#ref-form input[name=${n}][value="${val(draft, n)}"]`);
      if (r) r.checked = true;
    }
    $("ref-justification").value = val(draft, "consent_justification");
  }
  justify();
  show("referral");
}

function justify() {
  const without = document.querySelector("#ref-form input[name=consent]:checked").value === "shared_without_consent";
  $("ref-justify").hidden = !without;
  $("ref-justification").required = without;
}

async function saveReferral(submit) {
  const f = new FormData($("ref-form"));
  const consent = f.get("consent");
  const justification = String(f.get("consent_justification") || "").trim();
  if (consent === "shared_without_consent" && !justification) {
    $("ref-error").textContent = t("Say why the referral is shared without consent.");
    $("ref-justification").focus();
    return;
  }
  if (submit && !f.get("service_id")) { $("ref-error").textContent = t("Choose a service first."); return; }
  const fields = { reason: f.get("reason"), urgency: f.get("urgency") };
  if (f.get("service_id")) fields.service_id = f.get("service_id");
  try {
    let id = state.referral && state.referral.id;
    if (id) await joinedup.update(id, fields);
    else id = await joinedup.draftReferral(state.person.id, fields);
    state.referral = { id };
    await joinedup.recordConsent(id, consent, consent === "shared_without_consent" ? justification : "");
    if (submit) await joinedup.submitReferral(id);
    await person(state.person);
  } catch (e) { fail("ref-error", e); }
}

// ---- follow-ups ----

async function followUps() {
  const [fus, yps] = await Promise.all([joinedup.followUps(), joinedup.list("young_person").catch(() => [])]);
  const names = Object.fromEntries(yps.map((y) => [y.id, val(y, "known_as")]));
  const now = Date.now();
  $("fu-list").replaceChildren(...fus.map((f) => el("li", {},
    el("strong", {}, names[val(f, "young_person_id")] || t("Follow-up")),
    el("div", { class: "meta" + (Date.parse(val(f, "due_at")) < now ? " overdue" : "") }, (Date.parse(val(f, "due_at")) < now ? t("Overdue") + " · " : "") + when(val(f, "due_at"))),
    el("p", { class: "note" }, val(f, "note")),
    el("button", { type: "button", class: "secondary", textContent: t("Mark as done"), on: { click: async () => { await joinedup.completeFollowUp(f.id); followUps(); } } }))));
  $("fu-none").hidden = fus.length > 0;
  show("followups");
}

// ---- conflicts ----

async function conflicted() {
  const out = [];
  for (const typ of ["encounter", "young_person", "referral", "follow_up"]) {
    for (const r of await joinedup.list(typ).catch(() => [])) if ((r.conflicts || []).length) out.push(r);
  }
  return out;
}

async function refreshConflictBanner() {
  $("conflict-banner").hidden = (await conflicted()).length === 0;
}

const show1 = (v) => (Array.isArray(v) ? v.join(", ") : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));

async function conflicts() {
  const recs = await conflicted();
  const box = $("conflict-list");
  box.replaceChildren();
  for (const r of recs) {
    const title = val(r, "area") || val(r, "known_as") || t(cap(r.type.replace("_", " ")));
    for (const c of r.conflicts) {
      box.append(el("section", { class: "conflict" },
        el("h3", {}, title + " · " + c.field.replace(/_/g, " ")),
        el("div", { class: "side-by-side" }, ...c.values.map((v, i) => el("div", { class: "choice" },
          el("p", { class: "meta" }, (i === 0 ? t("Shown now") : t("Other edit")) + " · " + when(v.at)),
          el("p", { class: "value" }, show1(v.value)),
          el("button", { type: "button", class: i === 0 ? "primary" : "secondary", textContent: t("Keep this"),
            on: { click: async () => { await joinedup.resolve(r.id, c.field, JSON.stringify(v.value)); conflicts(); } } }))))));
    }
  }
  $("conflict-none").hidden = recs.length > 0;
  show("conflicts");
}

// ---- enrolment ----

async function enrol(code) {
  $("enrol-error").textContent = "";
  try {
    await joinedup.enrol(code);
    $("code").value = "";
    await joinedup.connectivity(navigator.onLine).catch(() => {});
    show("home");
    await sync();
    await refresh();
  } catch (e) { $("enrol-error").textContent = t("That code did not work:") + " " + errText(e); }
}

// codeFrom reads the portal's QR code: joinedup://enrol?server=…&code=….
// The app enrols with the server it came from; a code for another server
// is refused rather than sent here.
function codeFrom(text) {
  const m = /^joinedup:\/\/enrol\?(.*)$/.exec(text.trim());
  if (!m) return { code: text.trim() };
  const q = new URLSearchParams(m[1]);
  const server = (q.get("server") || "").replace(/\/+$/, "");
  if (server && server !== location.origin) return { error: t("This code is for another server.") };
  return { code: q.get("code") || "" };
}

let scanning = null;
async function scan() {
  $("enrol-error").textContent = "";
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    const video = $("scan-video");
    video.srcObject = stream;
    await video.play();
    $("scanner").hidden = false;
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    scanning = { stream, timer: setInterval(async () => {
      const found = await detector.detect(video).catch(() => []);
      if (!found.length) return;
      stopScan();
      const r = codeFrom(found[0].rawValue);
      if (r.error) { $("enrol-error").textContent = r.error; return; }
      $("code").value = r.code;
      enrol(r.code);
    }, 300) };
  } catch (e) {
    $("enrol-error").textContent = t("The camera could not be used: type the code instead.");
  }
}

function stopScan() {
  if (!scanning) return;
  clearInterval(scanning.timer);
  for (const tr of scanning.stream.getTracks()) tr.stop();
  scanning = null;
  $("scanner").hidden = true;
}

// ---- sign-out ----

async function signOut(force) {
  $("signout-msg").textContent = "";
  try {
    await joinedup.logout(force);
    $("signout-force").hidden = true;
    dispatchEvent(new Event("joinedup-signedout")); // push.js deletes the push token
    show("enrol");
  } catch (e) {
    if (e.code === "unsynced_work") {
      $("signout-msg").textContent = t("Some saves have not reached the server yet. Sync first, or sign out and lose them.");
      $("signout-force").hidden = false;
    } else $("signout-msg").textContent = errText(e);
  }
}

// ---- wiring ----

function registerWorker() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
}

async function start() {
  try { await begin(); } finally { registerWorker(); }
}

// tellLanguage passes the page's language to the engine, which sends it
// with every request. Before the engine has loaded, begin() does; an older
// engine still in a cache has no language() and sends none.
function tellLanguage() {
  if (typeof joinedup !== "object" || !joinedup.language) return Promise.resolve();
  return joinedup.language(i18n.lang).catch(() => {});
}

async function begin() {
  await joinedup.ready();
  await tellLanguage();
  setNet();
  await joinedup.connectivity(navigator.onLine).catch(() => {});
  const st = await joinedup.status();
  if (!st.enrolled) { show("enrol"); return; }
  show("home");
  await refresh();
  sync();
}

function wire() {
  $("lang").addEventListener("click", () => {
    i18n.set(i18n.lang === "cy" ? "en" : "cy");
    tellLanguage();
    setNet();
    refresh().catch(() => {});
  });
  $("enrol-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const r = codeFrom($("code").value);
    if (r.error) { $("enrol-error").textContent = r.error; return; }
    enrol(r.code);
  });
  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) $("scan").hidden = false;
  $("scan").addEventListener("click", scan);
  $("scan-stop").addEventListener("click", stopScan);

  for (const b of document.querySelectorAll("#nav [data-go]")) {
    b.addEventListener("click", () => {
      const go = b.dataset.go;
      if (go === "home") { show("home"); refresh().catch(() => {}); }
      else if (go === "people") people();
      else if (go === "followups") followUps();
      else if (go === "sync") { show("sync"); refreshStatus().catch(() => {}); }
    });
  }
  $("add").addEventListener("click", newEncounter);
  $("cancel").addEventListener("click", () => show("home"));
  $("enc-form").addEventListener("submit", saveEncounter);
  $("sync-now").addEventListener("click", () => sync());
  $("st-sync").addEventListener("click", () => sync());
  $("open-conflicts").addEventListener("click", conflicts);

  $("edit-cancel").addEventListener("click", () => show("home"));
  $("edit-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      clearTimeout(live.timer);
      live.timer = 0;
      await livePump();
      // Written live already: writing the whole text again could undo a
      // change that arrived after the last merge.
      if (live.broken || !navigator.onLine || $("edit-note").value !== live.shadow) await joinedup.update(state.editing, { note: $("edit-note").value });
      show("home");
      await refresh();
    } catch (e) { fail("edit-error", e); }
  });

  $("yp-search").addEventListener("input", renderPeople);
  $("yp-add").addEventListener("click", () => { $("yp-form").reset(); $("yp-error").textContent = ""; show("person-new"); $("known-as").focus(); });
  $("yp-cancel").addEventListener("click", () => show("people"));
  $("yp-form").addEventListener("submit", saveYoungPerson);
  $("person-back").addEventListener("click", people);
  $("refer").addEventListener("click", () => referral(state.person));
  for (const r of document.querySelectorAll("#ref-form input[name=consent]")) r.addEventListener("change", justify);
  $("ref-draft").addEventListener("click", () => saveReferral(false));
  $("ref-form").addEventListener("submit", (ev) => { ev.preventDefault(); saveReferral(true); });
  $("ref-cancel").addEventListener("click", () => person(state.person));

  $("signout").addEventListener("click", () => signOut(false));
  $("signout-force").addEventListener("click", () => signOut(true));

  addEventListener("online", () => { setNet(); joinedup.connectivity(true).then(sync).catch(() => {}); });
  addEventListener("offline", () => { setNet(); joinedup.connectivity(false).catch(() => {}); });
  addEventListener("joinedup-status", () => { refreshStatus().catch(() => {}); if (!live.timer) livePump(); });
  $("edit-note").addEventListener("input", () => { if (navigator.onLine) liveSoon(); });
  addEventListener("joinedup-progress", (ev) => progress(ev.detail));
  addEventListener("joinedup-wiped", () => { stopScan(); show("enrol"); });
  setInterval(() => { if (!$("home").hidden) refresh().catch(() => {}); }, 30000);

  // The service worker passes on a Web Push message (nothing personal in
  // it): sync now. It is registered once the app has started (start), so
  // its install does not share a slow first load's bandwidth.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (ev) => {
      if (!ev.data || ev.data.type !== "sync") return;
      document.body.dataset.pushes = String(Number(document.body.dataset.pushes || 0) + 1);
      joinedup.push("").then(() => sync()).catch(() => {});
    });
  }
}

const boot = i18n.load().then(() => { i18n.apply(); wire(); setNet(); });
const go = new Go();
addEventListener("joinedup-ready", () => boot.then(start).catch((e) => { $("loading").textContent = t("The app could not start:") + " " + e.message; }), { once: true });
WebAssembly.instantiateStreaming(fetch("app.wasm"), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => { $("loading").textContent = t("The app could not load:") + " " + e.message; });
