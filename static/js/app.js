// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Ask before actions marked as destructive (e.g. 解除锁定 in 管理后台).
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();
