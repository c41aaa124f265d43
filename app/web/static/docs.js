// Swagger UI of /docs: the page's CSP forbids inline scripts, so its set-up lives here.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Never validator.swagger.io (the standalone layout's badge sends it the contract's URL
    // and loads an image from it): an outside request on an intranet.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
