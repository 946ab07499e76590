// 服务管理 editor, progressive enhancement only (the page works without this file):
// each 办事指南 section's preview follows the text as one types, rendered and sanitised by
// the server exactly as the guide will show it; the 业务系统地址 field shows only for
// 业务系统办理.
(function () {
  "use strict";
  var form = document.querySelector("form.svc-form");
  if (!form) return;

  var kinds = form.querySelectorAll("input[name=kind]");
  var url = form.querySelector(".svc-url");
  function showUrl() {
    var checked = form.querySelector("input[name=kind]:checked");
    var external = checked && checked.value === "external";
    // Keep it visible while it holds a message.
    if (url) url.hidden = !external && !url.classList.contains("has-error");
  }
  Array.prototype.forEach.call(kinds, function (k) { k.addEventListener("change", showUrl); });
  showUrl();

  if (!window.fetch || !window.URLSearchParams) return;
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
        fetch("/admin/services/preview", {
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
})();
