/* The tablet's device side: its key (held in IndexedDB, never in a URL), signed requests as
   the README's "Signed requests" describe, the service's clock, and the offline queue. */
(function () {
  "use strict";
  const SCHEME = "HCP1-HMAC-SHA256";
  const DB_NAME = "haochaping-kiosk";
  const OFFSET_KEY = "hcp.clockOffsetMs";
  const encoder = new TextEncoder();
  const subtle = window.crypto && window.crypto.subtle; // absent outside secure contexts
  const root = document.body.dataset.root || "";

  // --- IndexedDB: the configuration (device id, key) and the queue of events ---------------
  let dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = () => {
          open.result.createObjectStore("config");
          open.result.createObjectStore("events", { keyPath: "event_id" });
        };
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
    }
    return dbPromise;
  }
  async function tx(store, mode, work) {
    const database = await db();
    return new Promise((resolve, reject) => {
      const transaction = database.transaction(store, mode);
      const request = work(transaction.objectStore(store));
      transaction.oncomplete = () => resolve(request && request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  }
  const store = {
    get: (name, key) => tx(name, "readonly", (s) => s.get(key)),
    put: (name, value, key) => tx(name, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key))),
    delete: (name, key) => tx(name, "readwrite", (s) => s.delete(key)),
    all: (name) => tx(name, "readonly", (s) => s.getAll()),
  };

  // --- the service's clock: a tablet's own clock may be wrong ------------------------------
  function now() {
    return Date.now() + Number(localStorage.getItem(OFFSET_KEY) || 0);
  }
  function learnServerTime(serverSeconds) {
    if (typeof serverSeconds === "number" && serverSeconds > 0) {
      localStorage.setItem(OFFSET_KEY, String(serverSeconds * 1000 - Date.now()));
    }
  }

  // --- keys and signatures ------------------------------------------------------------------
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  function randomToken(bytes) {
    const raw = crypto.getRandomValues(new Uint8Array(bytes));
    return Array.from(raw, (b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b & 63]).join("");
  }
  async function sha256Hex(text) {
    const bytes = encoder.encode(text);
    return hex(subtle ? await subtle.digest("SHA-256", bytes) : HcpSha256.sha256(bytes));
  }
  /* The signing key is SHA-256 of the API key. With WebCrypto it is kept as a CryptoKey that
     cannot be exported; without, as its bytes. The API key itself is dropped. */
  async function signingKey(apiKey) {
    const bytes = encoder.encode(apiKey);
    if (subtle) {
      const digest = await subtle.digest("SHA-256", bytes);
      return subtle.importKey("raw", digest, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    }
    return HcpSha256.sha256(bytes);
  }
  async function hmacHex(key, text) {
    const bytes = encoder.encode(text);
    if (subtle && !(key instanceof Uint8Array)) return hex(await subtle.sign("HMAC", key, bytes));
    return hex(HcpSha256.hmac(key, bytes));
  }
  async function signedHeaders(config, method, target, body) {
    const timestamp = String(Math.floor(now() / 1000));
    const nonce = randomToken(32);
    const message = [SCHEME, method, target, timestamp, nonce, await sha256Hex(body)].join("\n");
    return {
      "X-HCP-Key-Id": config.key_id,
      "X-HCP-Timestamp": timestamp,
      "X-HCP-Nonce": nonce,
      "X-HCP-Signature": await hmacHex(config.key, message),
    };
  }

  /* A signed request; a "stale" refusal (the tablet's clock is off) teaches the service's
     time and is signed again once. Resolves to the Response; rejects when the network fails. */
  async function signedFetch(config, method, path, payload) {
    const body = payload === undefined ? "" : JSON.stringify(payload);
    for (let attempt = 0; ; attempt++) {
      const headers = await signedHeaders(config, method, root + path, body);
      if (body) headers["Content-Type"] = "application/json";
      headers["Accept-Language"] = "zh-CN"; // problems in Chinese (the service's own words)
      const response = await fetch(root + path, { method, headers, body: body || undefined, cache: "no-store" });
      if (response.status === 401 && attempt === 0) {
        const problem = await response.clone().json().catch(() => ({}));
        if (problem.reason === "stale" && problem.server_time) {
          learnServerTime(problem.server_time);
          continue;
        }
      }
      return response;
    }
  }

  /* Redeem an enrolment link's token (in the body: never in a URL) for the device's key. */
  async function enrol(token) {
    const response = await fetch(root + "/v1/kiosk/enrolment", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": "zh-CN" },
      body: JSON.stringify({ token }),
      cache: "no-store",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail || "启用失败（" + response.status + "）");
    learnServerTime(answer.server_time);
    const config = {
      device_id: answer.device_id,
      key_id: answer.key_id,
      key: await signingKey(answer.key),
      department_code: answer.department_code,
      department_name: answer.department_name,
      window_no: answer.window_no,
      window_name: answer.window_name,
      enrolled_at: now(),
    };
    await store.put("config", config, "device");
    return config;
  }

  // --- the queue ----------------------------------------------------------------------------
  function newEventId(config) {
    return "k-" + config.device_id.slice(0, 8) + "-" + now().toString(36) + "-" + randomToken(10);
  }
  const queue = {
    add: (event) => store.put("events", event),
    remove: (eventId) => store.delete("events", eventId),
    all: () => store.all("events"),
  };

  /* Send every ready event through the batch endpoint (the same event ids, signed anew).
     Stored and duplicate ones leave the queue; so do refused ones (kept in the log). Returns
     false when the network or the service failed (the queue stays for the next attempt). */
  let flushing = null;
  function flush(config) {
    if (!flushing) {
      flushing = (async () => {
        try {
          const ready = (await queue.all()).filter((e) => e.state === "ready");
          for (let i = 0; i < ready.length; i += 100) {
            const chunk = ready.slice(i, i + 100);
            const response = await signedFetch(config, "POST", "/v1/ratings/batch", {
              events: chunk.map((e) => e.body),
            });
            if (response.status === 401 || response.status === 403) {
              // Revoked key, deactivated device: only a new enrolment helps; the events wait.
              window.HcpDevice.refused = true;
              return false;
            }
            if (!response.ok) return false;
            window.HcpDevice.refused = false;
            const answer = await response.json();
            for (const result of answer.results) {
              if (result.status === "rejected") console.warn("rating refused", result.event_id, result.errors);
              await queue.remove(chunk[result.index].event_id);
            }
          }
          return true;
        } catch (error) {
          return false; // offline: the events wait in IndexedDB
        } finally {
          flushing = null;
        }
      })();
    }
    return flushing;
  }

  window.HcpDevice = {
    store, now, learnServerTime, signedFetch, enrol, newEventId, queue, flush,
    config: () => store.get("config", "device"),
  };
})();
