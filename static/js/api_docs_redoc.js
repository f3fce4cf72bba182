// Starts ReDoc on /api/redoc/ from a file of ours, so that the page runs no inline script
// (Content-Security-Policy). ReDoc makes its styles at run time: they carry this response's
// nonce, the only inline styles the policy lets through, on this page alone. Its search runs
// in a worker made from a blob: URL, which the policy refuses: it is off (Swagger UI, at
// /api/docs/, filters the operations instead).
(function () {
  "use strict";
  // ReDoc 2.5 always shows Redocly's logo from Redocly's server: the page asks nothing of
  // another site, so an image whose address is elsewhere is never given it.
  function elsewhere(value) {
    return /^https?:/i.test(String(value)) &&
      new URL(String(value)).origin !== window.location.origin;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" &&
        elsewhere(value)) {
      this.hidden = true;
      return undefined;
    }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      if (elsewhere(value)) {
        this.hidden = true;
        return;
      }
      src.set.call(this, value);
    },
  });
  var root = document.getElementById("redoc-container");
  Redoc.init(
    root.dataset.schemaUrl,
    { nonce: root.dataset.styleNonce, disableSearch: true },
    root
  );
})();
