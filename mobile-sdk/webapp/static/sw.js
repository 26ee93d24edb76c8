// Caches the app shell and the engine so the app opens with no network.
// Sync requests (/v1/) always go to the network; nothing personal is cached.
const CACHE = "joinedup-app-v1";
const SHELL = ["./", "index.html", "app.js", "app.css", "wasm_exec.js", "app.wasm", "manifest.webmanifest", "icon.svg"];

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
    if (resp.ok) { const copy = resp.clone(); caches.open(CACHE).then((c) => c.put(ev.request, copy)); }
    return resp;
  }).catch(() => caches.match(ev.request, { ignoreSearch: true }).then((r) => r || caches.match("index.html"))));
});
