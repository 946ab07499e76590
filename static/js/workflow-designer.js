// 流程设计: progressive enhancement only — every choice works without this file.
// Shows only the settings of the chosen approver rule and fallback, and offers a choice
// field's options as suggestions for a condition's value.
(function () {
  "use strict";
  function toggle(form, name, attr) {
    var radios = form.querySelectorAll('input[type=radio][name="' + name + '"]');
    if (!radios.length) return;
    function update() {
      var chosen = form.querySelector('input[type=radio][name="' + name + '"]:checked');
      var value = chosen ? chosen.value : "";
      var subs = form.querySelectorAll("[" + attr + "]");
      Array.prototype.forEach.call(subs, function (el) {
        // A setting with a message stays visible, so the message is seen.
        el.hidden = el.getAttribute(attr) !== value && !el.querySelector(".field-error");
      });
    }
    Array.prototype.forEach.call(radios, function (r) { r.addEventListener("change", update); });
    update();
  }
  var form = document.querySelector("form.wf-editor");
  if (!form) return;
  toggle(form, "rule", "data-rule");
  toggle(form, "fallback", "data-fallback");
  Array.prototype.forEach.call(form.querySelectorAll("select[data-cond-field]"), function (select) {
    var input = select.parentNode.querySelector("input[data-cond-value]");
    if (!input) return;
    select.addEventListener("change", function () {
      var list = document.getElementById("opts-" + select.value);
      if (list) input.setAttribute("list", list.id); else input.removeAttribute("list");
    });
  });
})();
