// ReDoc of /redoc: the page's CSP forbids inline scripts, so its set-up lives here.
"use strict";
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, {}, root);
})();
