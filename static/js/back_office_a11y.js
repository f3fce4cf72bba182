// Names that some back-office controls lack (issue 17, item 7): django-rq's select-all box has
// no label, and the admin's search box is named only by an icon's alt text.
(function () {
  "use strict";
  document.querySelectorAll("#action-toggle:not([aria-label])").forEach(function (box) {
    if (!box.labels || box.labels.length === 0) {
      box.setAttribute("aria-label", "Select all jobs on this page");
    }
  });
  var search = document.getElementById("searchbar");
  if (search && !search.hasAttribute("aria-label")) {
    search.setAttribute("aria-label", "Search");
  }
})();
