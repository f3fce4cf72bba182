/* Copy buttons for secrets shown once. Without script, or if the clipboard is refused, the
 * secret stays selectable text. */
(function () {
  "use strict";

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy-target]"), function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!target) { return; }
    button.hidden = false;

    function say(text) {
      if (status) { status.textContent = text; }
    }

    button.addEventListener("click", function () {
      var text = target.textContent.trim();
      var copied = navigator.clipboard && window.isSecureContext
        ? navigator.clipboard.writeText(text)
        : Promise.reject(new Error("no clipboard"));
      copied.then(function () {
        button.textContent = "Copied";
        say("Copied to the clipboard.");
      }).catch(function () {
        selectText(target);
        var fallback = false;
        try { fallback = document.execCommand("copy"); } catch (error) { fallback = false; }
        if (fallback) {
          button.textContent = "Copied";
          say("Copied to the clipboard.");
        } else {
          say("Selected: press Ctrl+C (or ⌘C) to copy.");
        }
      });
    });
  });
})();
