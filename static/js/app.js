// Casework browser glue. No inline scripts (CSP script-src 'self'); htmx does the talking.
(function () {
  "use strict";
  // A new action clears the previous action's message; polls and other reads leave it alone.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var verb = (evt.detail.requestConfig && evt.detail.requestConfig.verb) || "get";
    var alerts = document.getElementById("alerts");
    if (alerts && verb.toLowerCase() !== "get") { alerts.innerHTML = ""; }
  });
})();
