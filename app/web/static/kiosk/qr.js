/* The QR-code page (扫码评价): choose a face, reasons after a low one, optionally a name and
   phone with consent, and send. No key here: the link's token allows rating its window or case. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  // One id per rating made on this page: a retried send is stored once.
  const raw = crypto.getRandomValues(new Uint8Array(18));
  const eventId = Array.from(raw, (b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b & 63]).join("");
  let level = null;
  let sending = false;

  for (const face of document.querySelectorAll(".face")) {
    face.addEventListener("click", () => {
      level = Number(face.dataset.level);
      for (const other of document.querySelectorAll(".face")) other.classList.toggle("chosen", other === face);
      $("reasons").hidden = level > 2;
      $("details").hidden = false;
      $("error").textContent = "";
      $("details").scrollIntoView({ block: "nearest" });
    });
  }
  for (const tag of document.querySelectorAll(".tag")) {
    tag.addEventListener("click", () => {
      tag.setAttribute("aria-pressed", tag.getAttribute("aria-pressed") === "true" ? "false" : "true");
    });
  }

  $("consent").addEventListener("change", () => {
    $("error").textContent = "";
  });

  $("submit").addEventListener("click", async () => {
    if (sending || level === null) return;
    const name = $("name").value.trim();
    const phone = $("phone").value.trim();
    if ((name || phone) && !$("consent").checked) {
      $("error").textContent = "实名评价请先勾选同意使用您的姓名和电话";
      return;
    }
    const payload = { token: body.dataset.token, event_id: eventId, level };
    if (level <= 2) {
      payload.tags = Array.from(document.querySelectorAll(".tag[aria-pressed=true]"), (t) => t.dataset.tag);
    }
    const comment = $("comment").value.trim();
    if (comment) payload.comment = comment;
    if (name || phone) {
      payload.rater = {};
      if (name) payload.rater.name = name;
      if (phone) payload.rater.phone = phone;
      payload.consent = true;
    }
    sending = true;
    $("submit").disabled = true;
    try {
      const response = await fetch((body.dataset.root || "") + "/v1/qr/ratings", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept-Language": "zh-CN" },
        body: JSON.stringify(payload),
        cache: "no-store",
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        const field = answer.errors && answer.errors[0];
        $("error").textContent =
          response.status === 422 && field && field.field.endsWith("phone")
            ? "手机号码格式不正确"
            : answer.detail || "提交失败";
        return;
      }
      $("rate").hidden = true;
      $("thanks").hidden = false;
      if (answer.assess_number === 2) $("thanks-detail").textContent = "已收到您对本办件的追评，感谢您的监督";
    } catch (error) {
      $("error").textContent = "网络连接失败，请稍后重试";
    } finally {
      sending = false;
      $("submit").disabled = false;
    }
  });
})();
