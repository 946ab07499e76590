// 表单设计: reordering by dragging, the preview's 电脑 / 手机 switch and the field editor's
// live preview. Progressive enhancement only: without this file the 上移 / 下移 buttons,
// the ?preview=phone links and 保存 do the same.
(function () {
  "use strict";
  if (!window.fetch || !document.querySelector) return;
  document.documentElement.classList.add("fd-js");
  function showHints() {
    Array.prototype.forEach.call(document.querySelectorAll(".fd-drag-hint"), function (h) { h.hidden = false; });
  }
  showHints();

  function say(text, bad) {
    var status = document.getElementById("fd-status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("bad", !!bad);
  }

  function csrf() {
    var i = document.querySelector('input[name="_csrf"]');
    return i ? i.value : "";
  }

  function keys(list) {
    return Array.prototype.map.call(list.querySelectorAll(":scope > .fd-row"), function (r) {
      return r.getAttribute("data-key");
    });
  }

  function restore(list, order) {
    var rows = {};
    Array.prototype.forEach.call(list.querySelectorAll(":scope > .fd-row"), function (r) {
      rows[r.getAttribute("data-key")] = r;
    });
    order.forEach(function (k) { if (rows[k]) list.appendChild(rows[k]); });
  }

  // --- the preview's width -------------------------------------------------------------
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("[data-fd-width]");
    if (!a) return;
    e.preventDefault();
    var phone = a.getAttribute("data-fd-width") === "phone";
    var frame = document.getElementById("fd-frame");
    if (frame) frame.classList.toggle("phone", phone);
    Array.prototype.forEach.call(document.querySelectorAll("[data-fd-width]"), function (x) {
      var on = x.getAttribute("data-fd-width") === (phone ? "phone" : "desktop");
      x.classList.toggle("active", on);
      if (on) x.setAttribute("aria-current", "true"); else x.removeAttribute("aria-current");
    });
    // The address keeps the choice (a reload shows the same width), unless this page was
    // the answer to a refused action at another address.
    if (window.history && history.replaceState && a.pathname === window.location.pathname) {
      history.replaceState(null, "", a.href);
    }
  });

  // --- after a change made here: the parts of the page that show it, fetched again ------
  function refresh(list, revision) {
    Array.prototype.forEach.call(document.querySelectorAll('input[name="revision"]'), function (i) {
      i.value = revision;
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-revision]"), function (l) {
      l.setAttribute("data-revision", revision);
    });
    var url = list.getAttribute("data-page-url") || window.location.pathname;
    var width = document.querySelector(".fd-switch a.active");
    if (width) url += "?preview=" + width.getAttribute("data-fd-width");
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error("刷新失败")); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var frame = document.getElementById("fd-frame");
        var phone = !!(frame && frame.classList.contains("phone"));
        ["fd-live", "fd-columns"].forEach(function (id) {
          var now = document.getElementById(id), next = doc.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
        showHints();
        if (editor) schedulePreview(0); // the field as typed, with the new order
        var f = document.getElementById("fd-frame");
        if (f) f.classList.toggle("phone", phone);
      });
  }

  // --- drag and drop (pointer events: mouse, pen and touch alike) ------------------------
  var drag = null;
  document.addEventListener("pointerdown", function (e) {
    var handle = e.target.closest && e.target.closest(".fd-handle");
    if (!handle || (e.pointerType === "mouse" && e.button !== 0)) return;
    var row = handle.closest(".fd-row");
    var list = row && row.closest("[data-fd-sortable]");
    if (!list || list.classList.contains("fd-busy")) return;
    e.preventDefault();
    drag = { row: row, list: list, before: keys(list), pointer: e.pointerId };
    row.classList.add("fd-dragging");
    list.classList.add("fd-sorting");
    try { handle.setPointerCapture(e.pointerId); } catch (err) { /* not capturable: document still hears it */ }
  });
  document.addEventListener("pointermove", function (e) {
    if (!drag || e.pointerId !== drag.pointer) return;
    e.preventDefault();
    var rows = Array.prototype.filter.call(drag.list.querySelectorAll(":scope > .fd-row"), function (r) {
      return r !== drag.row;
    });
    var target = null;
    for (var i = 0; i < rows.length; i++) {
      var b = rows[i].getBoundingClientRect();
      if (e.clientY < b.top + b.height / 2) { target = rows[i]; break; }
    }
    if (target) {
      if (drag.row.nextElementSibling !== target) drag.list.insertBefore(drag.row, target);
    } else if (drag.list.lastElementChild !== drag.row) {
      drag.list.appendChild(drag.row);
    }
  });
  function drop(e) {
    if (!drag || e.pointerId !== drag.pointer) return;
    var d = drag;
    drag = null;
    d.row.classList.remove("fd-dragging");
    d.list.classList.remove("fd-sorting");
    var after = keys(d.list);
    if (after.join("\n") !== d.before.join("\n")) saveOrder(d.list, after, d.before);
  }
  document.addEventListener("pointerup", drop);
  document.addEventListener("pointercancel", drop);

  function saveOrder(list, order, before) {
    var body = new URLSearchParams();
    body.append("_csrf", csrf());
    body.append("revision", list.getAttribute("data-revision") || "");
    order.forEach(function (k) { body.append("key", k); });
    list.classList.add("fd-busy");
    say("正在保存顺序…");
    fetch(list.getAttribute("data-order-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (r) {
      if (r.ok) return r.json();
      // A refusal arrives as the portal's error page, its reason in the card.
      return r.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var reason = doc.querySelector(".error-card h1 + p");
        throw new Error(reason ? reason.textContent : "保存失败，请刷新后再试。");
      });
    }).then(function (j) {
      say(j.message || "已保存。");
      return refresh(list, j.revision).catch(function () {
        say("顺序已保存，但预览未能更新，请刷新页面。", true);
      });
    }).catch(function (err) {
      restore(list, before);
      say(err && err.message ? err.message : "保存失败，请刷新后再试。", true);
    }).then(function () {
      list.classList.remove("fd-busy");
    });
  }

  // --- the field editor: the preview follows what is typed ------------------------------
  var editor = document.querySelector("form[data-fd-preview-url]");
  var timer = null, seq = 0;
  function updatePreview() {
    var mine = ++seq;
    var data = new URLSearchParams(new FormData(editor));
    data.delete("intent");
    fetch(editor.getAttribute("data-fd-preview-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded" },
      body: data.toString()
    }).then(function (r) {
      return r.ok ? r.text() : Promise.reject(new Error(String(r.status)));
    }).then(function (html) {
      if (mine !== seq) return; // a later keystroke's answer wins
      var body = document.getElementById("fd-preview-body");
      if (body) body.innerHTML = html;
    }).catch(function () { /* the preview stays as it was; 保存 still works */ });
  }
  function schedulePreview(delay) {
    clearTimeout(timer);
    timer = setTimeout(updatePreview, delay === undefined ? 250 : delay);
  }
  if (editor) {
    editor.addEventListener("input", function () { schedulePreview(); });
    editor.addEventListener("change", function () { schedulePreview(); });
    // 更换类型 shows the new type's settings as soon as it is picked (nothing is saved).
    var kind = editor.querySelector('select[name="kind"]');
    var apply = editor.querySelector('button[name="intent"][value="kind"]');
    if (kind && apply) {
      apply.classList.add("fd-js-hidden");
      kind.addEventListener("change", function () {
        if (editor.requestSubmit) editor.requestSubmit(apply); else apply.click();
      });
    }
  }
})();
