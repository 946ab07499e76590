// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    // Ask before actions marked as destructive (e.g. 解除锁定 in 管理后台).
    var msg = form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); return; }
    // 收藏 toggles in place instead of reloading the page.
    if (form.classList.contains("fav-form") && window.fetch) {
      e.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(form)).toString(),
        credentials: "same-origin"
      }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (data) {
        var on = !!data.favorited;
        button.classList.toggle("on", on);
        button.setAttribute("aria-pressed", on ? "true" : "false");
        button.querySelector(".star").textContent = on ? "★" : "☆";
        button.querySelector(".fav-label").textContent = on ? "已收藏" : "收藏";
      }).catch(function () {
        form.submit(); // fall back to the plain form post
      }).then(function () { button.disabled = false; });
    }
  });
})();
// 退回至 shows when 退回 is chosen: the first press of 退回 opens the choice, the second
// sends it. Without script the choice is always shown.
(function () {
  "use strict";
  var fields = document.querySelectorAll("[data-return-to]");
  Array.prototype.forEach.call(fields, function (field) {
    var form = field.closest ? field.closest("form") : null;
    var button = form && form.querySelector("button[name=op][value=return]");
    if (!button) return;
    field.hidden = true;
    button.addEventListener("click", function (e) {
      if (!field.hidden) return;
      e.preventDefault();
      field.hidden = false;
      button.textContent = "确认退回";
      var select = field.querySelector("select");
      if (select) select.focus();
    });
  });
})();
// Chip rows that scroll sideways on phones: the chosen chip is brought into view, and the
// row fades at the edge while more chips lie past it.
(function () {
  "use strict";
  var rows = document.querySelectorAll(".chips");
  function mark(row) {
    row.classList.toggle("overflows-right", row.scrollLeft + row.clientWidth < row.scrollWidth - 2);
  }
  Array.prototype.forEach.call(rows, function (row) {
    var active = row.querySelector(".chip.active");
    if (active) {
      var left = active.getBoundingClientRect().left - row.getBoundingClientRect().left + row.scrollLeft;
      if (left + active.offsetWidth > row.clientWidth) row.scrollLeft = left - 24;
    }
    mark(row);
    row.addEventListener("scroll", function () { mark(row); }, { passive: true });
  });
  window.addEventListener("resize", function () { Array.prototype.forEach.call(rows, mark); });
})();
// A field focused behind the sticky 提交/存草稿 bar (the next field, tabbing down the form
// or pressing the phone keyboard's "next") is scrolled clear of it: the browser scrolls only
// fields outside the window, and this one is inside it, under the bar.
(function () {
  "use strict";
  function clear(el) {
    if (!el || !el.closest) return;
    // The bar of the field's own form, where it floats (not a designer's preview beside it).
    var form = el.closest("form");
    var bar = form && form.querySelector(".form-actions");
    if (!bar || bar.contains(el) || getComputedStyle(bar).position !== "sticky") return;
    var r = el.getBoundingClientRect(), b = bar.getBoundingClientRect();
    if (r.bottom > b.top && r.top < b.bottom && r.right > b.left && r.left < b.right) {
      window.scrollBy(0, r.bottom - b.top + 12);
    }
  }
  document.addEventListener("focusin", function (e) { clear(e.target); });
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", function () { clear(document.activeElement); });
  }
})();
// 打印: a plain link without script would do nothing, so it is shown only with script.
(function () {
  "use strict";
  var links = document.querySelectorAll(".js-print");
  for (var i = 0; i < links.length; i++) {
    links[i].hidden = false;
    links[i].addEventListener("click", function (e) { e.preventDefault(); window.print(); });
  }
})();
// Person picker: suggest people by name or account as one types (the server also accepts a
// bare account, so the field works without this).
(function () {
  "use strict";
  var inputs = document.querySelectorAll("input[data-person-search]");
  Array.prototype.forEach.call(inputs, function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    // The form names itself and the field, so the server searches only whom it takes.
    var form = input.closest ? input.closest("[data-people]") : null;
    var scope = form && input.getAttribute("data-field")
      ? "&" + form.getAttribute("data-people") + "&field=" + encodeURIComponent(input.getAttribute("data-field"))
      : "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q || q.indexOf("（") >= 0 || !window.fetch) return;
      timer = setTimeout(function () {
        fetch("/people?q=" + encodeURIComponent(q) + scope, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (people) {
            list.textContent = "";
            people.forEach(function (p) {
              var o = document.createElement("option");
              o.value = p.name + "（" + p.account + "）";
              o.label = p.department || "";
              list.appendChild(o);
            });
          })
          .catch(function () {});
      }, 200);
    });
  });
})();
// Password strength, live: a rough estimate in the spirit of zxcvbn (length, variety,
// repeats, sequences, the account inside). Advice only: the server's zxcvbn score decides.
(function () {
  "use strict";
  var input = document.querySelector("input[data-strength-account]");
  var meter = document.getElementById("pw-meter");
  if (!input || !meter) return;
  var bar = meter.querySelector(".pw-bar span");
  var label = meter.querySelector(".pw-label");
  var names = ["很弱", "弱", "一般", "强", "很强"];
  var common = /^(password|passw0rd|p@ssw0rd|qwerty|admin|abc123|iloveyou|woaini|123456|12345678|a123456)/i;
  function score(pw, account) {
    if (!pw) return -1;
    var classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(function (r) { return r.test(pw); }).length;
    var bits = pw.length * Math.log(Math.max(10, [0, 26, 52, 62, 94][classes])) / Math.LN2;
    if (/(.)\1{2,}/.test(pw)) bits -= 12;
    if (/(0123|1234|2345|3456|4567|5678|6789|abcd|bcde|qwer|asdf|zxcv)/i.test(pw)) bits -= 14;
    if (common.test(pw)) bits -= 30;
    if (account && account.length >= 3 && pw.toLowerCase().indexOf(account.toLowerCase()) >= 0) bits -= 30;
    if (pw.length < 8 || classes < 3) bits = Math.min(bits, 27);
    return bits < 28 ? 0 : bits < 36 ? 1 : bits < 50 ? 2 : bits < 64 ? 3 : 4;
  }
  input.addEventListener("input", function () {
    var s = score(input.value, input.getAttribute("data-strength-account"));
    meter.hidden = s < 0;
    if (s < 0) return;
    meter.setAttribute("data-score", String(s));
    bar.style.width = ((s + 1) * 20) + "%";
    label.textContent = "强度：" + names[s];
  });
})();
// 扫码登录: ask every second whether the phone has approved; go on when it has.
(function () {
  "use strict";
  var form = document.getElementById("qr-poll");
  var label = document.getElementById("qr-state");
  if (!form || !label || !window.fetch) return;
  var token = form.querySelector("input[name=_csrf]").value;
  var left = parseInt(label.getAttribute("data-expires"), 10) || 120;
  var started = Date.now();
  function tick() {
    fetch("/login/qr/poll", {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": token }
    })
      .then(function (r) { return r.ok ? r.json() : { state: "pending" }; })
      .then(function (a) {
        if (a.state === "ok") { window.location.assign("/"); return; }
        if (a.state === "expired" || a.state === "denied" || Date.now() - started > left * 1000) {
          label.textContent = a.state === "denied" ? "已在手机上取消或数字不符，本二维码已作废，" : "二维码已过期，";
          var again = document.createElement("a");
          again.href = "/login/qr"; again.textContent = "点此刷新";
          label.appendChild(again);
          return;
        }
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 1000);
})();
// 流程图 starts folded on phones: the page sends it open (so it reads without script) and
// this folds it below 768 px, where the form and the actions come first.
// A flow wider than the screen (many parallel branches) scrolls sideways: start it at the
// middle, where the start and the end are.
(function () {
  "use strict";
  var flows = document.querySelectorAll("details.flow-view");
  var narrow = window.matchMedia && window.matchMedia("(max-width: 767px)").matches;
  function centre(details) {
    var wraps = details.querySelectorAll(".diagram-wrap");
    for (var k = 0; k < wraps.length; k++) {
      var w = wraps[k];
      if (w.scrollWidth > w.clientWidth) w.scrollLeft = (w.scrollWidth - w.clientWidth) / 2;
    }
  }
  for (var i = 0; i < flows.length; i++) {
    if (narrow) flows[i].open = false;
    else centre(flows[i]);
    flows[i].addEventListener("toggle", function (e) { if (e.target.open) centre(e.target); });
  }
})();
// 返回修改 on the page refusing bad input: the browser's back brings the form again with
// what was typed. Shown only with script, as without it the button would do nothing.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("[data-history-back]");
  Array.prototype.forEach.call(buttons, function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.history.back(); });
  });
})();
// Markdown previews (办事指南 sections, 通知公告): each textarea[data-md-preview] in a form
// with data-md-preview-url shows, as one types, what the server renders and sanitises
// exactly as the page will show it. Without script the form's 预览 button does the same.
(function () {
  "use strict";
  if (!window.fetch || !window.URLSearchParams) return;
  var forms = document.querySelectorAll("form[data-md-preview-url]");
  Array.prototype.forEach.call(forms, function (form) {
    var url = form.getAttribute("data-md-preview-url");
    var token = form.querySelector("input[name=_csrf]").value;
    // The live preview replaces the 预览 button.
    Array.prototype.forEach.call(form.querySelectorAll(".js-hide"), function (b) { b.hidden = true; });
    var areas = form.querySelectorAll("textarea[data-md-preview]");
    Array.prototype.forEach.call(areas, function (area) {
      var panel = document.getElementById(area.getAttribute("data-md-preview"));
      if (!panel) return;
      var timer = null;
      var asked = 0;
      area.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          var mine = ++asked;
          var body = new URLSearchParams();
          body.set("_csrf", token);
          body.set("text", area.value);
          fetch(url, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token },
            body: body.toString()
          }).then(function (r) {
            if (!r.ok) throw new Error(String(r.status));
            return r.text();
          }).then(function (html) {
            // Only the answer to the latest text counts.
            if (mine !== asked) return;
            panel.innerHTML = html; // sanitised by the server (ammonia)
            panel.classList.remove("stale");
          }).catch(function () {
            if (mine === asked) panel.classList.add("stale");
          });
        }, 250);
      });
    });
  });
})();

// 常用系统: a campus system opened from the hall is counted (the link opens as usual; the
// count rides along and may be lost without harm).
(function () {
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-system]");
    if (!a) return;
    var t = document.querySelector("input[name=_csrf]");
    if (!t) return;
    fetch("/systems/" + encodeURIComponent(a.getAttribute("data-system")) + "/opened", {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { "X-CSRF-Token": t.value }
    }).catch(function () {});
  });
})();

// Live figures (填报情况): a block with data-live="N" and an id is fetched again every N
// seconds from the same address and replaced, while the tab is visible; the rest of the
// page (filters being typed) is left alone.
(function () {
  var blocks = document.querySelectorAll("[data-live][id]");
  if (!blocks.length) return;
  var secs = Math.max(10, parseInt(blocks[0].getAttribute("data-live"), 10) || 30);
  setInterval(function () {
    if (document.hidden) return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        blocks.forEach(function (b) {
          var fresh = doc.getElementById(b.id);
          if (fresh) b.innerHTML = fresh.innerHTML;
        });
      })
      .catch(function () {});
  }, secs * 1000);
})();
// 手写签名: a pad drawn with a finger, pen or mouse (pointer events); the drawing goes into
// the form as a PNG data URL. 通过 with an empty pad is stopped here with the message
// beside the pad (the server refuses it too).
(function () {
  "use strict";
  var pads = document.querySelectorAll("[data-signature-pad]");
  Array.prototype.forEach.call(pads, function (box) {
    var canvas = box.querySelector("canvas");
    var input = box.querySelector("input[name=signature]");
    var error = box.querySelector("[data-signature-error]");
    var form = box.closest("form");
    if (!canvas || !input || !form || !canvas.getContext) return;
    var ctx = canvas.getContext("2d");
    var drawn = false, drawing = false, last = null;
    function fit() {
      // Device pixels, so strokes stay sharp on a phone's screen.
      var ratio = window.devicePixelRatio || 1;
      var w = canvas.clientWidth, h = canvas.clientHeight;
      if (!w || !h) return;
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.lineWidth = 2.6;
      ctx.strokeStyle = "#1a234a";
    }
    function point(e) {
      var r = canvas.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top };
    }
    function save() {
      input.value = drawn ? canvas.toDataURL("image/png") : "";
      if (drawn && error) error.hidden = true;
    }
    fit();
    window.addEventListener("resize", function () { if (!drawn) fit(); });
    canvas.addEventListener("pointerdown", function (e) {
      drawing = true;
      last = point(e);
      if (canvas.setPointerCapture) canvas.setPointerCapture(e.pointerId);
      ctx.beginPath();
      ctx.arc(last.x, last.y, 1.2, 0, Math.PI * 2);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fill();
      e.preventDefault();
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) return;
      var p = point(e);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      last = p;
      drawn = true;
      e.preventDefault();
    });
    function end() {
      if (!drawing) return;
      drawing = false;
      save();
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerleave", end);
    var clear = box.querySelector("[data-signature-clear]");
    if (clear) clear.addEventListener("click", function () {
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.restore();
      drawn = false;
      save();
    });
    form.addEventListener("submit", function (e) {
      var op = e.submitter ? e.submitter.value : "approve";
      if (op !== "approve" || input.value) return;
      e.preventDefault();
      e.stopPropagation();
      if (error) error.hidden = false;
      canvas.focus();
      canvas.scrollIntoView({ block: "center" });
    });
  });
})();
