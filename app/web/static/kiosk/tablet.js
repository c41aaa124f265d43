/* The tablet page (评价器): idle → faces → (reasons after 不满意/非常不满意) → thanks → idle.
   Every rating is an event with its own event_id, written to IndexedDB the moment it is made,
   then sent (at once when online, else when the network returns). */
(function () {
  "use strict";
  const D = window.HcpDevice;
  const $ = (id) => document.getElementById(id);
  // Tunable for maintenance and tests (localStorage), in milliseconds.
  const THANKS_MS = Number(localStorage.getItem("hcp.thanksMs") || 4000);
  const LOCK_MS = Number(localStorage.getItem("hcp.lockMs") || 1500);
  const REASONS_IDLE_MS = 60000;
  const POLL_MS = 5000; // a case pushed by the window system shows within seconds

  let config = null;
  let duty = { staff_id: null, case_no: null };
  let card = { name: null, photo: null }; // the register's name and photo of the staff on duty
  let draft = null; // the event of a low rating while its reasons are chosen
  let lockedUntil = 0;
  let reasonsTimer = null;

  function show(name) {
    for (const section of document.querySelectorAll(".screen")) section.hidden = section.id !== "screen-" + name;
    document.body.dataset.screen = name;
  }

  // --- the status mark: 已同步 / 待上传 N ---------------------------------------------------
  async function refreshStatus() {
    const waiting = (await D.queue.all()).length;
    const mark = $("sync");
    mark.textContent = (waiting ? "待上传 " + waiting : "已同步") + (D.refused ? " · 需重新启用" : "");
    mark.classList.toggle("pending", waiting > 0);
    mark.dataset.pending = String(waiting);
  }
  async function sync() {
    if (!config) return;
    // Events made while a flush was under way go in a second one.
    if (await D.flush(config)) await D.flush(config);
    const left = (await D.queue.all()).filter((e) => e.state === "ready").length;
    await refreshStatus();
    return left;
  }

  // --- who is on duty ----------------------------------------------------------------------
  function ratedCases() {
    return JSON.parse(localStorage.getItem("hcp.ratedCases") || "[]");
  }
  function currentCase() {
    return duty.case_no && !ratedCases().includes(duty.case_no) ? duty.case_no : null;
  }
  function renderPlace() {
    $("window-no").textContent = config.window_no || "";
    $("window-name").textContent = [config.department_name, config.window_name].filter(Boolean).join(" · ");
    const named = duty.staff_id && card.name;
    $("staff").textContent = named ? card.name : duty.staff_id ? "工号 " + duty.staff_id : "—";
    $("staff-no").hidden = !named;
    $("staff-no").textContent = named ? "工号 " + duty.staff_id : "";
    const photo = duty.staff_id && card.photo ? document.body.dataset.root + card.photo : null;
    if (photo && $("staff-photo").getAttribute("src") !== photo) $("staff-photo").setAttribute("src", photo);
    $("staff-photo").hidden = !photo;
    $("avatar").hidden = Boolean(photo);
    const caseNo = currentCase();
    $("case").hidden = !caseNo;
    $("case").textContent = caseNo ? "办件编号 " + caseNo : "";
  }
  async function poll() {
    if (!config) return;
    try {
      const response = await D.signedFetch(config, "GET", "/v1/devices/" + config.device_id + "/session");
      if (response.ok) {
        const session = await response.json();
        D.learnServerTime(session.server_time);
        duty = { staff_id: session.staff_id, case_no: session.case_no };
        card = { name: session.staff_name, photo: session.staff_photo_url };
        Object.assign(config, {
          department_name: session.department_name,
          window_no: session.window_no,
          window_name: session.window_name,
        });
        localStorage.setItem("hcp.duty", JSON.stringify(duty));
        renderPlace();
      }
    } catch (error) {
      /* offline: keep what we know */
    }
    await sync();
  }

  // --- rating -------------------------------------------------------------------------------
  function newEvent(level) {
    const body = {
      event_id: D.newEventId(config),
      level,
      rated_at: new Date(D.now()).toISOString(),
    };
    if (duty.staff_id) body.staff_id = duty.staff_id;
    const caseNo = currentCase();
    if (caseNo) body.case_no = caseNo;
    return { event_id: body.event_id, body, state: "ready", created_ms: Date.now() };
  }
  async function finish(event) {
    event.state = "ready";
    await D.queue.add(event);
    if (event.body.case_no) {
      localStorage.setItem("hcp.ratedCases", JSON.stringify([...ratedCases(), event.body.case_no].slice(-50)));
    }
    show("thanks");
    await refreshStatus();
    sync();
    setTimeout(() => {
      lockedUntil = Date.now() + LOCK_MS;
      document.body.classList.add("locked");
      setTimeout(() => document.body.classList.remove("locked"), LOCK_MS);
      renderPlace();
      show("idle");
    }, THANKS_MS);
  }
  async function onFace(level) {
    if (Date.now() < lockedUntil || document.body.dataset.screen !== "idle") return;
    lockedUntil = Date.now() + THANKS_MS + LOCK_MS; // no second rating from the same burst of taps
    const event = newEvent(level);
    if (level >= 3) {
      await finish(event);
      return;
    }
    // Kept at once as a draft: a tablet switched off now still sends the rating (no reasons).
    event.state = "draft";
    draft = event;
    await D.queue.add(event);
    for (const tag of document.querySelectorAll("#screen-reasons .tag")) tag.setAttribute("aria-pressed", "false");
    $("comment").value = "";
    show("reasons");
    armReasonsTimer();
  }
  function armReasonsTimer() {
    clearTimeout(reasonsTimer);
    reasonsTimer = setTimeout(submitReasons, REASONS_IDLE_MS);
  }
  async function submitReasons() {
    clearTimeout(reasonsTimer);
    if (!draft) return;
    const event = draft;
    draft = null;
    const tags = Array.from(document.querySelectorAll("#screen-reasons .tag[aria-pressed=true]"), (t) => t.dataset.tag);
    if (tags.length) event.body.tags = tags;
    const comment = $("comment").value.trim();
    if (comment) event.body.comment = comment;
    await finish(event);
  }

  // --- the staff member signs on (their 工号) -------------------------------------------------
  async function setDuty(staffId) {
    duty = { staff_id: staffId, case_no: null };
    card = { name: null, photo: null }; // until the next poll names them
    localStorage.setItem("hcp.duty", JSON.stringify(duty));
    renderPlace();
    try {
      const response = await D.signedFetch(config, "PUT", "/v1/devices/" + config.device_id + "/session", duty);
      if (response.ok) {
        const session = await response.json();
        card = { name: session.staff_name, photo: session.staff_photo_url };
        renderPlace();
      }
    } catch (error) {
      /* offline: the page rates with it; the server learns it on the next sign-on */
    }
    show("idle");
  }

  function wire() {
    for (const face of document.querySelectorAll(".face")) {
      face.addEventListener("click", () => onFace(Number(face.dataset.level)));
    }
    for (const tag of document.querySelectorAll("#screen-reasons .tag")) {
      tag.addEventListener("click", () => {
        tag.setAttribute("aria-pressed", tag.getAttribute("aria-pressed") === "true" ? "false" : "true");
        armReasonsTimer();
      });
    }
    $("comment").addEventListener("input", armReasonsTimer);
    $("reasons-submit").addEventListener("click", submitReasons);
    $("staff-button").addEventListener("click", () => {
      $("staff-input").value = duty.staff_id || "";
      $("staff-error").textContent = "";
      show("staff");
      $("staff-input").focus();
    });
    $("staff-cancel").addEventListener("click", () => show("idle"));
    $("staff-off").addEventListener("click", () => setDuty(null));
    $("staff-save").addEventListener("click", () => {
      const value = $("staff-input").value.trim();
      if (!/^[\x21-\x7e\u4e00-\u9fff]{1,64}$/.test(value)) {
        $("staff-error").textContent = "请输入工号";
        return;
      }
      setDuty(value);
    });
    window.addEventListener("online", sync);
  }

  async function start() {
    wire();
    const match = location.hash.match(/^#enrol=([A-Za-z0-9_-]+)$/);
    if (match) {
      history.replaceState(null, "", location.pathname); // the token leaves the address bar
      try {
        config = await D.enrol(match[1]);
      } catch (error) {
        $("enrol-error").textContent = error.message;
      }
    }
    config = config || (await D.config());
    if (!config) {
      show("enrol");
      return;
    }
    duty = JSON.parse(localStorage.getItem("hcp.duty") || '{"staff_id": null, "case_no": null}');
    // Drafts left by a tablet switched off mid-rating are sent as they are.
    for (const event of await D.queue.all()) {
      if (event.state === "draft") {
        event.state = "ready";
        await D.queue.add(event);
      }
    }
    renderPlace();
    show("idle");
    document.body.dataset.ready = "true";
    await refreshStatus();
    poll();
    setInterval(poll, POLL_MS);
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register(document.body.dataset.root + "/kiosk/sw.js", { scope: document.body.dataset.root + "/kiosk" }).catch(() => {});
    }
  }

  window.HcpTablet = { sync, refreshStatus };
  start();
})();
