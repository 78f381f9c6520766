// Postbud's only script besides htmx: the shared dialog and flash messages.
// No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";

  function dialog() { return document.getElementById("dialog"); }

  function showMessage(text, category) {
    var list = document.getElementById("messages");
    if (!list) return;
    var item = document.createElement("li");
    item.className = "message message-" + (category || "info");
    item.textContent = text;
    list.appendChild(item);
    setTimeout(function () { item.remove(); }, 8000);
  }

  // Fragments swapped into the dialog open it and take focus.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var d = dialog();
    if (!d || evt.detail.target.id !== "dialog-content") return;
    if (!d.open) d.showModal();
    var focusable = d.querySelector("[autofocus], input:not([type=hidden]), button, a[href]");
    if (focusable) focusable.focus();
  });

  // Emptying the dialog when it closes lets the next opening start clean.
  document.addEventListener("close", function (evt) {
    if (evt.target.id === "dialog") {
      document.getElementById("dialog-content").innerHTML = "";
    }
  }, true);

  document.addEventListener("closeDialog", function () {
    var d = dialog();
    if (d && d.open) d.close();
  });

  document.addEventListener("click", function (evt) {
    var closer = evt.target.closest("[data-close-dialog]");
    if (closer) { evt.preventDefault(); dialog().close(); }
  });

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
    showMessage(p ? p.textContent : ("Error " + xhr.status), "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage(document.documentElement.lang === "en"
      ? "The server could not be reached. Check the connection and try again."
      : "Serveren kunne ikke nås. Tjek forbindelsen, og prøv igen.", "error");
  });
})();
