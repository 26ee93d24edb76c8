// Caches the app shell and the engine so the app opens with no network.
// Sync requests (/v1/) always go to the network; nothing personal is cached.
const CACHE = "joinedup-app-v3";
const SHELL = ["./", "index.html", "app.js", "push.js", "i18n.js", "cy.json", "app.css", "wasm_exec.js", "app.wasm", "manifest.webmanifest", "icon.svg"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/app/")) return;
  // Network first, so a new version is picked up when online; the cache when not.
  ev.respondWith(fetch(ev.request).then((resp) => {
    if (resp.ok) { const copy = resp.clone(); caches.open(CACHE).then((c) => keep(c, ev.request, copy)); }
    return resp;
  }).catch(() => caches.match(ev.request, { ignoreSearch: true }).then((r) => r || caches.match("index.html"))));
});

// keep stores a response unless the cache already holds the same version
// (the server's ETag names the content): most online loads revalidate to
// the engine the cache has, and writing its megabytes again on each one
// would cost the phone time and throw away the browser's compiled code
// kept with the cached copy.
function keep(cache, req, resp) {
  const tag = resp.headers.get("ETag");
  return cache.match(req).then((old) => {
    if (tag && old && old.headers.get("ETag") === tag) return undefined;
    return cache.put(req, resp);
  });
}

// Web Push (the webpush part of the server's FCM message): its data holds
// only opaque ids and a kind, never a name or a note. Any message means
// "sync": an open app is told to sync now. With no app open, the browser
// requires something visible: the server's generic text (or, for a bare
// sync, a generic line), which opens the app, and the app syncs as it starts.
self.addEventListener("push", (ev) => {
  let msg = {};
  try { msg = ev.data ? ev.data.json() : {}; } catch (e) { msg = {}; }
  const note = msg.notification || {};
  ev.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
    self.lastPush = Date.now();
    const tell = () => { for (const c of clients) c.postMessage({ type: "sync" }); };
    if (clients.length && !note.body) return tell();
    // The notification first, then the apps: an app that reads the shown
    // notifications when it hears of a push (as the browser tests do)
    // must find this one, not race the browser showing it.
    return self.registration.showNotification(note.title || "JoinedUp", {
      body: note.body || "New work has reached the server. Open the app to sync. · Mae gwaith newydd ar y gweinydd.",
      tag: (msg.data && msg.data.nid) || "joinedup-sync",
    }).then(tell, (err) => { tell(); throw err; });
  }));
});

self.addEventListener("notificationclick", (ev) => {
  ev.notification.close();
  ev.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
    for (const c of clients) if ("focus" in c) return c.focus();
    return self.clients.openWindow("./");
  }));
});
