// Hosted login page: follow the login session by server-sent events and move on as soon as it changes.
// External file (CSP: no inline script). The browser never learns who scanned: only the state.
(function () {
  "use strict";
  var root = document.getElementById("login-root");
  var status = document.getElementById("status");
  var live = { waiting: 1, scanned: 1, confirm: 1 };
  // Only a page rendered while the QR is live listens: a refused or binding page is final as rendered.
  if (!root || !root.getAttribute("data-events-url") || !window.EventSource ||
      !live[root.getAttribute("data-state")]) { return; }
  var pageUrl = root.getAttribute("data-page-url");
  var rendered = root.getAttribute("data-state");  // what the server rendered (the confirm code, for one)

  function show(state, message) {
    status.setAttribute("data-state", state);
    status.className = "status status-" + state;
    status.textContent = message;
    root.setAttribute("data-state", state);
  }

  var source = new EventSource(root.getAttribute("data-events-url"));
  source.addEventListener("state", function (event) {
    var data = JSON.parse(event.data);
    show(data.state, data.message);
    if (data.state === "succeeded" && data.next) {
      source.close();
      window.location.assign(data.next);
    } else if (data.state === "expired") {
      source.close();
      window.location.replace(pageUrl);  // the page makes a new QR code for the same login
    } else if (data.state === "binding" || data.state === "refused" ||
               (data.state === "confirm" && rendered !== "confirm")) {
      source.close();
      window.location.replace(pageUrl);  // server-rendered form or message
    } else if (!live[data.state]) {
      source.close();
    }
  });
})();
