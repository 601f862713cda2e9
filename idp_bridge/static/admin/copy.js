// Copy buttons of the console (SPEC §12: the callback URL, ready-to-paste settings, one-time secrets).
// Progressive: every button starts `hidden` and the text it copies is ordinary selectable text, so without
// JavaScript nothing is lost; with it, a button copies its target's text (Clipboard API, W3C Clipboard API
// and events §4) and says so for two seconds.
(function () {
  "use strict";

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copied(button) {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-copied") || label;
    button.setAttribute("data-state", "copied");
    window.setTimeout(function () {
      button.textContent = label;
      button.removeAttribute("data-state");
    }, 2000);
  }

  function copy(button) {
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var text = target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () { selectText(target); });
    } else {
      selectText(target);  // no Clipboard API (plain http): leave the text selected for Ctrl+C
    }
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
}());
