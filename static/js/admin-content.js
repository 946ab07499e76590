// 首页内容 › 通知公告 editor, progressive enhancement only (the 预览 button does the same
// without this file): the preview follows the body as one types, rendered and sanitised
// by the server exactly as the notice page shows it.
(function () {
  "use strict";
  var form = document.querySelector("form.notice-form");
  if (!form || !window.fetch || !window.URLSearchParams) return;
  var token = form.querySelector("input[name=_csrf]").value;
  var area = form.querySelector("textarea[data-md-preview]");
  var panel = area && document.getElementById(area.getAttribute("data-md-preview"));
  if (!panel) return;
  Array.prototype.forEach.call(form.querySelectorAll(".js-hide"), function (b) { b.hidden = true; });
  var timer = null;
  var asked = 0;
  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var mine = ++asked;
      var body = new URLSearchParams();
      body.set("_csrf", token);
      body.set("text", area.value);
      fetch("/admin/content/notices/preview", {
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
})();
