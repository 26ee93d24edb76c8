// Web Push: the "Turn on notifications" control on the Sync screen.
//
// The server says in config.json whether Web Push is configured (a Firebase
// web app and its VAPID key); without it the control stays hidden and the
// Firebase SDK is never loaded. With it: permission is asked only when the
// worker taps the control; the Firebase JS SDK (vendored, served from this
// origin: vendor/firebase) turns the browser's push subscription, made with
// the app's own service worker, into an FCM token, and the SDK's client
// files it with the server under this device (POST /v1/push/token). Pushes
// carry ids and generic text only; the service worker (sw.js) wakes a sync.
//
// The token is refreshed at each start while permission is granted (FCM
// rotates tokens), and deleted at Firebase on sign-out, on a wipe (revoked
// device) and when the worker turns notifications off; the server forgets
// it on sign-out (Client.Logout), on turning off and on revocation.
"use strict";

const webpush = { config: null, messaging: null, loading: null, registered: false, attempts: 0 };

// The states of the control; #notify's data-state says which (tests read
// it). message is the English key: data-t lets i18n.apply translate it
// again when the language changes.
function pushState(state, message) {
  const box = $("notify"), line = $("notify-state");
  box.dataset.state = state;
  line.dataset.en = message || "";
  line.setAttribute("data-t", "");
  line.textContent = message ? t(message) : "";
  $("notify-on").hidden = state === "on" || state === "working" || state === "unsupported" || state === "blocked";
  $("notify-off").hidden = state !== "on";
}

const pushSupported = () => "Notification" in window && "serviceWorker" in navigator && "PushManager" in window;

// loadScript adds a script of this origin (the CSP allows nothing else).
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.async = false;
    s.onload = resolve;
    s.onerror = () => reject(new Error("could not load " + src));
    document.head.append(s);
  });
}

// firebaseMessaging loads the SDK once, only when it is needed.
function firebaseMessaging() {
  if (!webpush.loading) {
    webpush.loading = loadScript("vendor/firebase/firebase-app-compat.js")
      .then(() => loadScript("vendor/firebase/firebase-messaging-compat.js"))
      .then(() => {
        const c = webpush.config;
        const app = firebase.apps.length ? firebase.app() : firebase.initializeApp({ apiKey: c.apiKey, projectId: c.projectId, messagingSenderId: c.messagingSenderId, appId: c.appId });
        webpush.messaging = app.messaging();
        return webpush.messaging;
      });
    webpush.loading.catch(() => { webpush.loading = null; });
  }
  return webpush.loading;
}

// within rejects when p takes longer than ms: a push service that never
// answers must not leave the control spinning.
const within = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(Object.assign(new Error("timed out"), { code: "timeout" })), ms))]);

// tokenWait is how long getToken may take: 20 s, or what localStorage's
// "push-timeout-ms" says (the browser tests shorten the wait for a push
// service that cannot answer here; it changes nothing but the wait).
const tokenWait = () => Number(localStorage.getItem("push-timeout-ms")) || 20000;

// subscribe gets the FCM token with the app's own service worker and files
// it with the server.
async function pushSubscribe() {
  const messaging = await firebaseMessaging();
  const reg = await within(navigator.serviceWorker.ready, 10000);
  webpush.attempts++;
  $("notify").dataset.attempts = String(webpush.attempts);
  // A browser that cannot reach its push service (Chromium without Google's
  // GCM, a captive portal) may never settle the subscription.
  const token = await within(messaging.getToken({ vapidKey: webpush.config.vapidKey, serviceWorkerRegistration: reg }), tokenWait());
  if (!token) throw Object.assign(new Error("no token"), { code: "no-token" });
  await joinedup.registerPushToken(token);
  webpush.registered = true;
}

function pushFailed(e) {
  // The reason, never a token or anything personal, for the console and tests.
  const why = (e && (e.code || e.name)) || "error";
  $("notify").dataset.error = why;
  console.warn("web push:", why, e && e.message ? e.message : "");
  pushState("failed", "Could not turn on notifications — try again when online.");
}

// turnOn is the control's click: the only place permission is asked.
async function pushTurnOn() {
  if (!pushSupported()) { pushState("unsupported", "This browser cannot show notifications."); return; }
  // Asked first, while the tap still counts as the worker's gesture.
  const perm = await Notification.requestPermission();
  if (perm === "denied") { pushState("blocked", "Notifications are blocked for this app: allow them in the browser's site settings."); return; }
  if (perm !== "granted") { pushState("off", "Notifications were not turned on."); return; }
  pushState("working", "Turning on notifications…");
  try {
    await pushSubscribe();
    pushState("on", "Notifications are on.");
  } catch (e) { pushFailed(e); }
}

// forget deletes the token at Firebase and drops the browser's push
// subscription, so nothing reaches this browser any more. The subscription
// is dropped even offline (deleteToken needs the network).
async function pushForget() {
  webpush.registered = false;
  if (!webpush.config || !pushSupported()) return;
  // Without permission there was never a token: no need to load the SDK.
  if (Notification.permission === "granted") {
    try { const m = await firebaseMessaging(); await within(m.deleteToken(), 10000); } catch (e) { /* offline: the subscription goes below */ }
  }
  try {
    const reg = await navigator.serviceWorker.getRegistration();
    const sub = reg && (await reg.pushManager.getSubscription());
    if (sub) await sub.unsubscribe();
  } catch (e) { /* nothing to drop */ }
}

async function pushTurnOff() {
  pushState("working", "");
  await joinedup.unregisterPushToken().catch(() => {});
  await pushForget();
  pushState("off", "Notifications are off.");
}

// pushStart shows the control when the server has Web Push configured and
// the phone is enrolled, and refreshes the token when permission is granted.
async function pushStart() {
  const st = await joinedup.status().catch(() => ({}));
  $("notify").dataset.checked = "1";
  if (!webpush.config || !st.enrolled) { $("notify").hidden = true; return; }
  $("notify").hidden = false;
  if (!pushSupported()) { pushState("unsupported", "This browser cannot show notifications."); return; }
  if (Notification.permission === "denied") { pushState("blocked", "Notifications are blocked for this app: allow them in the browser's site settings."); return; }
  if (Notification.permission !== "granted") { pushState("off", ""); return; }
  if (webpush.registered || !navigator.onLine) { pushState(webpush.registered ? "on" : "off", webpush.registered ? "Notifications are on." : ""); return; }
  pushState("working", "Turning on notifications…");
  try { await pushSubscribe(); pushState("on", "Notifications are on."); } catch (e) { pushFailed(e); }
}

function pushWire() {
  $("notify-on").addEventListener("click", () => { pushTurnOn(); });
  $("notify-off").addEventListener("click", () => { pushTurnOff(); });
  const gone = () => { $("notify").hidden = true; pushState("off", ""); pushForget(); };
  addEventListener("joinedup-wiped", gone);
  addEventListener("joinedup-signedout", gone);
  addEventListener("online", () => { if (!$("notify").hidden && !webpush.registered) pushStart(); });
  // Shown once the app has started and knows whether it is enrolled.
  addEventListener("joinedup-ready", () => {
    fetch("config.json", { cache: "no-store" }).then((r) => r.json()).then((c) => { webpush.config = (c && c.push) || null; })
      .catch(() => { webpush.config = null; })
      .then(() => boot)
      .then(() => joinedup.ready())
      .then(pushStart)
      .catch(() => {});
  }, { once: true });
  // Enrolled after start: offer it from the Sync screen.
  for (const b of document.querySelectorAll('#nav [data-go="sync"]')) b.addEventListener("click", () => { if ($("notify").hidden) pushStart(); });
}

pushWire();
