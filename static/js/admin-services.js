// 服务管理 editor, progressive enhancement only (the page works without this file): the
// 业务系统地址 field shows only for 业务系统办理. (The 办事指南 previews that follow the text
// are app.js's Markdown preview.)
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
})();
