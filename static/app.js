// Postbud's only script besides htmx: the shared dialog, messages, menus,
// focus after swaps, busy states and the error summary.
// No inline scripts anywhere (CSP script-src 'self'); texts come from the
// page's data- attributes, which the server translates.
(function () {
  "use strict";

  function dialog() { return document.getElementById("dialog"); }
  function text(name) { return document.body.getAttribute("data-text-" + name) || ""; }

  function showMessage(message, category) {
    var list = document.getElementById("messages");
    if (!list) return;
    var item = document.createElement("li");
    item.className = "message message-" + (category || "info");
    item.textContent = message;
    list.replaceChildren(item);  // the newest says what happened: earlier ones would contradict it
    setTimeout(function () { item.remove(); }, 8000);
  }

  // A plain form's button with data-confirm asks first (htmx has hx-confirm).
  document.addEventListener("submit", function (evt) {
    var button = evt.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) evt.preventDefault();
  });

  // What the person does next makes the last message stale: a click or a
  // submit clears it (polling and typing do not).
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var cause = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    var list = document.getElementById("messages");
    if (list && cause && (cause.type === "submit" || cause.type === "click")) list.replaceChildren();
  });

  // --- The phone menu ------------------------------------------------------

  // The Menu button exists for script users only; without script the header
  // and side menu simply stay open (see .js rules in app.css).
  document.documentElement.classList.add("js");
  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest("#menu-toggle");
    if (!toggle) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    document.body.classList.toggle("nav-open", open);
  });

  // --- The pop-up ---------------------------------------------------------

  // Fragments swapped into the dialog open it and take focus.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var d = dialog();
    var target = evt.detail && evt.detail.target;
    if (!d || !target || target.id !== "dialog-content") return;
    if (!d.open) d.showModal();
    var focusable = d.querySelector("[autofocus], input:not([type=hidden]), button, a[href]");
    if (focusable) focusable.focus();
  });

  // While a request from the pop-up runs, neither Escape nor Cancel closes
  // it: the answer (and its message) still has somewhere to go.
  function busy(d) { return !!(d && d.querySelector(".htmx-request")); }
  document.addEventListener("cancel", function (evt) {
    if (evt.target.id === "dialog" && busy(evt.target)) evt.preventDefault();
  }, true);

  // Emptying the dialog when it closes lets the next opening start clean.
  document.addEventListener("close", function (evt) {
    if (evt.target.id === "dialog" && !busy(evt.target)) {
      document.getElementById("dialog-content").innerHTML = "";
    }
  }, true);

  document.addEventListener("closeDialog", function () {
    var d = dialog();
    if (d && d.open) d.close();
  });

  document.addEventListener("click", function (evt) {
    var closer = evt.target.closest("[data-close-dialog]");
    if (closer) { evt.preventDefault(); if (!busy(dialog())) dialog().close(); }
  });

  // --- Menu buttons (WAI-ARIA APG menu button) -----------------------------

  function menuParts(menu) {
    return { button: menu.querySelector("[aria-haspopup=menu]"), list: menu.querySelector("[role=menu]") };
  }
  function menuItems(menu) { return Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]")); }
  function openMenu(menu, focusLast) {
    var parts = menuParts(menu);
    parts.list.hidden = false;
    parts.button.setAttribute("aria-expanded", "true");
    var items = menuItems(menu);
    if (items.length) items[focusLast ? items.length - 1 : 0].focus();
  }
  function closeMenu(menu, focusButton) {
    var parts = menuParts(menu);
    if (parts.list.hidden) return;
    parts.list.hidden = true;
    parts.button.setAttribute("aria-expanded", "false");
    if (focusButton) parts.button.focus();
  }
  function closeAllMenus(except) {
    document.querySelectorAll("[data-menu]").forEach(function (menu) { if (menu !== except) closeMenu(menu, false); });
  }

  document.addEventListener("click", function (evt) {
    var menu = evt.target.closest("[data-menu]");
    closeAllMenus(menu);  // a click outside closes
    if (!menu) return;
    if (evt.target.closest("[aria-haspopup=menu]")) {
      if (menuParts(menu).list.hidden) openMenu(menu, false); else closeMenu(menu, true);
    } else if (evt.target.closest("[role=menuitem]")) {
      closeMenu(menu, false);
    }
  });

  document.addEventListener("keydown", function (evt) {
    var menu = evt.target.closest && evt.target.closest("[data-menu]");
    if (!menu) return;
    var onButton = evt.target.matches("[aria-haspopup=menu]");
    var items = menuItems(menu);
    var index = items.indexOf(evt.target);
    var key = evt.key;
    if (onButton && (key === "ArrowDown" || key === "ArrowUp")) {
      evt.preventDefault();
      openMenu(menu, key === "ArrowUp");
    } else if (index >= 0) {
      var next = null;
      if (key === "ArrowDown") next = items[(index + 1) % items.length];
      else if (key === "ArrowUp") next = items[(index - 1 + items.length) % items.length];
      else if (key === "Home") next = items[0];
      else if (key === "End") next = items[items.length - 1];
      else if (key === "Escape") { evt.preventDefault(); closeMenu(menu, true); return; }
      else if (key === "Tab") { closeMenu(menu, false); return; }
      else if (key === " ") { evt.preventDefault(); evt.target.click(); return; }
      if (next) { evt.preventDefault(); next.focus(); }
    } else if (key === "Escape") {
      closeMenu(menu, true);
    }
  });

  // --- Busy while a request runs ------------------------------------------

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var target = evt.detail.target;
    if (target && target.id !== "dialog-content") target.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var target = evt.detail.target;
    if (target) target.removeAttribute("aria-busy");
  });

  // --- Focus and errors after a swap --------------------------------------

  // A field checked as the admin leaves it: its red border and aria-invalid
  // follow the message that came back, so markup and message agree.
  function syncFields(root) {
    root.querySelectorAll(".field").forEach(function (field) {
      var feedback = field.querySelector(".feedback");
      if (!feedback) return;
      var invalid = !!feedback.querySelector(".error");
      field.classList.toggle("has-error", invalid);
      var input = field.querySelector("input, select, textarea");
      if (!input) return;
      if (invalid) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    });
  }

  // GOV.UK's error pattern: "Error: " before the title while a summary shows.
  function syncTitle() {
    var prefix = text("error-prefix");
    if (!prefix) return;
    var title = document.title;
    if (title.indexOf(prefix) === 0) title = title.slice(prefix.length);
    document.title = (document.querySelector(".error-summary") ? prefix : "") + title;
  }

  // Links in the error summary move to the field (its label in view).
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    var input = document.getElementById(link.getAttribute("href").slice(1));
    if (!input) return;
    evt.preventDefault();
    var label = document.querySelector("label[for='" + input.id + "']") || input;
    label.scrollIntoView();
    input.focus({ preventScroll: true });
  });

  document.addEventListener("htmx:afterSettle", function (evt) {
    syncFields(document);
    syncTitle();
    // After a click or a key, focus never falls to the page: it goes to what
    // the answer replaced: its table, else its first focus stop, else itself.
    // Polling swaps (no triggering event) leave the focus alone.
    var target = evt.detail.target;
    var active = document.activeElement;
    if (!evt.detail.requestConfig || !evt.detail.requestConfig.triggeringEvent) return;
    if (!target || !target.isConnected || target.id === "dialog-content") return;
    var summary = target.querySelector(".error-summary");
    if (summary) { summary.focus(); return; }  // errors first, over any autofocus
    if (active && active !== document.body) return;
    var stop = target.querySelector("table[tabindex='-1']") || target.querySelector("[tabindex='-1']");
    if (!stop) { target.setAttribute("tabindex", "-1"); stop = target; }
    stop.focus();
  });

  document.addEventListener("DOMContentLoaded", function () {
    syncTitle();
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });

  // --- Copy buttons, messages, failures -------------------------------------

  // Copy buttons: data-copy names the input whose value is copied.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () { showMessage(button.getAttribute("data-copied") || "OK", "success"); };
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value).then(done, done); } else { done(); }
  });

  document.addEventListener("showMessage", function (evt) {
    var detail = evt.detail || {};
    showMessage(detail.text || detail.value, detail.category);
  });

  // A failed HTMX request must not fail silently.
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var p = doc.querySelector(".error-box p");
    showMessage(p ? p.textContent : text("request-failed").replace("%s", xhr.status), "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage(text("offline"), "error");
  });
})();
