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
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q || q.indexOf("（") >= 0 || !window.fetch) return;
      timer = setTimeout(function () {
        fetch("/people?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { "Accept": "application/json" } })
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
