/* Live status and progress of privacy requests, without reloading by hand.
 * The pages work without it: they show the status as of loading. With it, the detail page and
 * the list poll a JSON endpoint every 2 seconds while a request is unfinished. */
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("json") !== -1;
        if (!response.ok || !json) {
          // Signed out, or no longer allowed: polling again would not help.
          var error = new Error("status " + response.status);
          error.stop = response.status < 500;
          throw error;
        }
        return response.json();
      });
  }

  function retry(poll) {
    return function (error) {
      if (!error.stop) { later(poll); }
    };
  }

  function setStatus(scope, data) {
    var status = scope.querySelector("[data-field=status]");
    if (status) {
      status.textContent = data.status;
      status.className = "status status-" + data.status.toLowerCase();
    }
    var progress = scope.querySelector("progress[data-field=progress]");
    if (progress && data.progress !== null) {
      progress.value = data.progress;
      progress.textContent = data.progress + "%";
    }
    var percent = scope.querySelector("[data-field=progress-percent]");
    if (percent && data.progress !== null) { percent.textContent = data.progress + "%"; }
    var text = scope.querySelector("[data-field=progress-text]");
    if (text) { text.textContent = data.progress_text; }
  }

  function later(poll) {
    window.setTimeout(function () {
      if (document.hidden) { later(poll); } else { poll(); }
    }, INTERVAL_MS);
  }

  /* The detail page: progress in place; when the status changes, the live region (status,
   * download, actions, details, audit trail) is replaced by a fresh copy of the page's. */
  function watchDetail(region) {
    var url = region.getAttribute("data-poll-url");
    var shown = region.getAttribute("data-status");
    Array.prototype.forEach.call(region.querySelectorAll("[data-js-only]"), function (element) {
      element.hidden = false;
    });

    function refresh() {
      return fetch(window.location.href, {credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
          if (!fresh) { throw new Error("no live region"); }
          region.replaceWith(fresh);
          // The flash messages told of the state just left ("Export requested"): a green one
          // must not stay above a failure.
          Array.prototype.forEach.call(document.querySelectorAll("main > .messages"), function (list) {
            list.remove();
          });
          if (fresh.hasAttribute("data-poll-url")) { watchDetail(fresh); }
        });
    }

    function poll() {
      getJson(url).then(function (data) {
        if ((data.state || data.status) !== shown) { return refresh(); }
        setStatus(region, data);
        if (data.live || data.watched) { later(poll); }
      }).catch(retry(poll));
    }
    later(poll);
  }

  /* The list: the status and progress cells of unfinished requests on this page; when one
   * finishes, the list is replaced by a fresh copy (its download link, its subject). */
  function watchList(container) {
    var base = container.getAttribute("data-poll-url").split("?")[0];
    var pending = {};
    Array.prototype.forEach.call(container.querySelectorAll("tr[data-tracking-id]"), function (row) {
      var status = row.querySelector("[data-field=status]");
      if (status && ["PENDING", "STAGING", "STARTED"].indexOf(status.textContent.trim()) !== -1) {
        pending[row.getAttribute("data-tracking-id")] = row;
      }
    });

    function refreshList() {
      return fetch(window.location.href, {credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.text();
        })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.querySelector(".table-wrap");
          if (!fresh) { throw new Error("no list"); }
          container.replaceWith(fresh);
          if (fresh.hasAttribute("data-poll-url")) { watchList(fresh); }
        });
    }

    function poll() {
      var ids = Object.keys(pending);
      if (!ids.length) { return; }
      var query = ids.map(function (id) { return "t=" + encodeURIComponent(id); }).join("&");
      getJson(base + "?" + query).then(function (data) {
        var finished = false;
        data.requests.forEach(function (item) {
          var row = pending[item.tracking_id];
          if (!row) { return; }
          setStatus(row, item);
          if (!item.live) {
            delete pending[item.tracking_id];
            finished = true;
          }
        });
        if (finished) { return refreshList(); }
        later(poll);
      }).catch(retry(poll));
    }
    later(poll);
  }

  if (!window.fetch) { return; }
  var region = document.querySelector("[data-live-region][data-poll-url]");
  if (region) { watchDetail(region); }
  var list = document.querySelector(".table-wrap[data-poll-url]");
  if (list) { watchList(list); }
})();
