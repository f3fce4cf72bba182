/* The Request Export / Request Deletion forms and Find an end user: show only the inputs
 * that apply. Without it, every input shows, with text saying when it applies. */
(function () {
  "use strict";
  var form = document.querySelector("form.request-form");
  if (!form) { return; }

  function checked(name) {
    var input = form.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }

  function toggle(attribute, value) {
    Array.prototype.forEach.call(form.querySelectorAll("[" + attribute + "]"), function (element) {
      element.hidden = element.getAttribute(attribute) !== value;
    });
  }

  function update() {
    var compliance = checked("compliance");
    toggle("data-show-when-compliance", compliance);
    if (compliance !== "CCPA") {
      // A GDPR export always holds the data: a hidden choice must not say otherwise.
      var data = form.querySelector("input[name=disclosure][value=Data]");
      if (data) { data.checked = true; }
    }
    toggle("data-show-when-ids-from", checked("ids_from"));
    toggle("data-show-when-search-by", checked("search_by"));
    // A deletion by categories or sources (CCPA only): the lists of the choice made.
    toggle("data-show-when-disclosure", compliance === "CCPA" ? checked("disclosure") : "");
  }

  form.addEventListener("change", update);
  update();

  var errors = document.getElementById("form-errors");
  if (errors) { errors.focus(); }
})();
