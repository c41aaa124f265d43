/* The tablet page's service worker: /kiosk and its static files keep loading when the network
   is down (the events themselves wait in IndexedDB). The page: network first, the cached copy
   offline. Static files: their paths change with their content, so cache first. */
"use strict";
const CACHE = "haochaping-kiosk-v1";
const PAGE = new URL("../kiosk", self.location).pathname;

async function precache() {
  const cache = await caches.open(CACHE);
  const response = await fetch(PAGE, { cache: "no-store" });
  const html = await response.clone().text();
  const assets = Array.from(html.matchAll(/(?:src|href)="([^"]*\/static\/[^"]+)"/g), (m) => m[1]);
  await cache.put(PAGE, response);
  await cache.addAll(assets);
  // A new release has new asset paths: forget the old ones.
  const current = new Set(assets.map((a) => new URL(a, self.location).href));
  for (const request of await cache.keys()) {
    if (request.url.includes("/static/") && !current.has(request.url)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === PAGE) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(PAGE, copy));
          }
          return response;
        })
        .catch(() => caches.match(PAGE)),
    );
  } else if (url.pathname.includes("/static/")) {
    event.respondWith(
      caches.match(request).then(
        (cached) =>
          cached ||
          fetch(request).then((response) => {
            if (response.ok) {
              const copy = response.clone();
              caches.open(CACHE).then((cache) => cache.put(request, copy));
            }
            return response;
          }),
      ),
    );
  }
});
