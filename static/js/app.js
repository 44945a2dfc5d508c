// Casework browser glue. No inline scripts (CSP script-src 'self'); htmx does the talking.
(function () {
  "use strict";
  // Clear an alert after a successful swap elsewhere, so old errors do not linger.
  document.addEventListener("htmx:beforeRequest", function () {
    var alerts = document.getElementById("alerts");
    if (alerts) { alerts.innerHTML = ""; }
  });
})();
