// Casework browser glue. No inline scripts (CSP script-src 'self'); htmx does the talking.
(function () {
  "use strict";
  // A new action clears the previous action's message; polls and other reads leave it alone.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var verb = (evt.detail.requestConfig && evt.detail.requestConfig.verb) || "get";
    var alerts = document.getElementById("alerts");
    if (alerts && verb.toLowerCase() !== "get") { alerts.innerHTML = ""; }
  });

  // A photo chosen but not uploaded is never dropped without a word: an action that would re-render
  // the page around it (and neither sends nor includes it) stops and says so (data-unsent).
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var verb = ((evt.detail.requestConfig && evt.detail.requestConfig.verb) || "get").toLowerCase();
    if (verb === "get") { return; }
    var elt = evt.detail.elt;
    var include = (elt && elt.closest && elt.closest("[hx-include]")) || null;
    var included = include ? document.querySelectorAll(include.getAttribute("hx-include")) : [];
    var pending = Array.prototype.filter.call(document.querySelectorAll("input[type=file][data-unsent]"), function (input) {
      if (!input.files || !input.files.length) { return false; }
      if (elt && (elt === input.form || (elt.contains && elt.contains(input)) || (input.form && input.form.contains(elt)))) { return false; }
      return Array.prototype.indexOf.call(included, input) < 0;
    });
    if (!pending.length) { return; }
    evt.preventDefault();
    var alerts = document.getElementById("alerts");
    if (alerts) {
      alerts.innerHTML = "";
      var p = document.createElement("p");
      p.className = "alert alert-error";
      p.textContent = pending[0].dataset.unsent;
      alerts.appendChild(p);
    }
    pending[0].focus();
  });
})();
