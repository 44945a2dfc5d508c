// Kanban board: drag-and-drop with Sortable.js, conditional polling, and keeping the user's work
// safe from the poll. No inline scripts (CSP script-src 'self'); htmx does the talking.
(function () {
  "use strict";
  var dragging = false;

  function board() { return document.getElementById("board"); }

  // The poll must not wipe out what the user is doing: a drag, an open form, ticked cards, an open menu.
  function busy() {
    var b = board();
    if (!b) { return false; }
    if (dragging || b.querySelector(".kform") || b.querySelector(".kcard-pick:checked")) { return true; }
    var active = document.activeElement;
    return !!(active && b.contains(active) && active.tagName === "SELECT");
  }

  function isPoll(detail) {
    return detail && detail.elt && detail.elt.id === "board" && !detail.requestConfig.triggeringEvent;
  }

  // The pages each column has open ("show more"), e.g. "new:3,closed:2": a refresh keeps them.
  function openPages() {
    var parts = [];
    Array.prototype.forEach.call(document.querySelectorAll("#board .bcol-cards"), function (list) {
      var n = parseInt(list.dataset.pages || "1", 10);
      if (n > 1) { parts.push(list.dataset.column + ":" + n); }
    });
    return parts.join(",");
  }

  // Polls carry If-None-Match: the server answers 304 while nothing in this board's scope changed.
  // Every re-read of the board (poll or refresh after an action) asks for the pages open now.
  document.addEventListener("htmx:configRequest", function (evt) {
    var d = evt.detail;
    if (!d.elt || d.elt.id !== "board") { return; }
    if (!d.triggeringEvent && d.elt.dataset.etag) {
      d.headers["If-None-Match"] = '"' + d.elt.dataset.etag + '"';
    }
    var pages = openPages();
    if (pages) { d.parameters.pages = pages; }
  });

  // "Show more" brought page N of a column: remember it on the column (before the button is swapped out).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.elt;
    if (!evt.detail.shouldSwap || !elt || !elt.classList || !elt.classList.contains("bcol-more")) { return; }
    var list = elt.closest(".bcol-cards");
    if (list && elt.dataset.page) { list.dataset.pages = elt.dataset.page; }
  });

  // Registered on <body> so it runs before document-level listeners: a poll neither runs while
  // the user is busy nor clears the alert area (app.js clears it before every request).
  function guardPoll(evt) {
    if (!isPoll(evt.detail)) { return; }
    evt.stopPropagation();
    if (busy()) { evt.preventDefault(); }
  }

  // A 304 means "keep what you have".
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.xhr && evt.detail.xhr.status === 304) { evt.detail.shouldSwap = false; }
  });

  function allowed(card, column) {
    return (card.dataset.allowed || "").split(" ").indexOf(column) >= 0;
  }

  function post(card, to, from, oldIndex) {
    if ((card.dataset.formTargets || "").split(" ").indexOf(to) >= 0) {
      // The event needs a note, a reason or a target: put the card back and open its form there.
      from.insertBefore(card, from.children[oldIndex] || null);
    }
    htmx.ajax("POST", card.dataset.moveUrl, {
      source: card, target: card, swap: "outerHTML",
      values: { to: to, version: card.dataset.version }
    });
  }

  function initColumns(root) {
    if (typeof Sortable === "undefined") { return; }
    var lists = root.querySelectorAll ? root.querySelectorAll(".bcol-cards") : [];
    if (root.classList && root.classList.contains("bcol-cards")) { lists = [root]; }
    Array.prototype.forEach.call(lists, function (list) {
      if (list.dataset.sortable) { return; }
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: "board",
        draggable: ".kcard[data-allowed]:not([data-allowed=''])",
        filter: "button, select, input, textarea, a, .kform",
        preventOnFilter: false,
        sort: false,
        animation: 120,
        ghostClass: "kcard-ghost",
        chosenClass: "kcard-chosen",
        onStart: function (evt) {
          dragging = true;
          var card = evt.item;
          Array.prototype.forEach.call(document.querySelectorAll(".bcol-cards"), function (l) {
            l.classList.toggle("drop-ok", allowed(card, l.dataset.column));
            l.classList.toggle("drop-no", l !== evt.from && !allowed(card, l.dataset.column));
          });
        },
        onEnd: function () {
          dragging = false;
          // Sortable animates through element.style; htmx would copy that attribute onto the
          // swapped-in card when it settles, which the strict CSP (style-src 'self') refuses.
          Array.prototype.forEach.call(document.querySelectorAll("#board [style]"), function (el) {
            el.removeAttribute("style");
          });
          Array.prototype.forEach.call(document.querySelectorAll(".bcol-cards"), function (l) {
            l.classList.remove("drop-ok", "drop-no");
          });
        },
        // A column the card cannot go to refuses the drop here; the server refuses it again.
        onMove: function (evt) {
          return evt.to === evt.from || allowed(evt.dragged, evt.to.dataset.column);
        },
        onAdd: function (evt) {
          post(evt.item, evt.to.dataset.column, evt.from, evt.oldIndex);
        }
      });
    });
  }

  // A single action's confirmation (boards/_toast.html) fades after a while, so it never hides the
  // foot of a column for long; the next action replaces it.
  var toastTimer = null;
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var region = evt.detail.target;
    if (!region || region.id !== "board-toast") { return; }
    if (toastTimer) { clearTimeout(toastTimer); }
    toastTimer = setTimeout(function () { region.innerHTML = ""; }, 12000);
  });

  htmx.onLoad(function (elt) {
    initColumns(elt);
    if (document.body && !document.body.dataset.boardGuard) {
      document.body.dataset.boardGuard = "1";
      document.body.addEventListener("htmx:beforeRequest", guardPoll);
      // On a phone the filters fold away (unless some are set) so the columns come first.
      var box = document.getElementById("board-filter-box");
      if (box && box.dataset.active === "0" && window.matchMedia("(max-width: 600px)").matches) {
        box.open = false;
      }
    }
  });
})();
