// Hosted login page: follow the login session and move on as soon as it changes.
// External file (CSP: no inline script). The browser never learns who scanned: only the state.
//
// The page always converges (SPEC §15): it listens by server-sent events; when a stream is refused (429,
// stream caps) or fails (an outage: 503, network), it polls the JSON status with backoff, honouring
// Retry-After, and tries a stream again later. A page rendered in the succeeded state moves on by itself.
(function () {
  "use strict";
  var root = document.getElementById("login-root");
  var status = document.getElementById("status");
  if (!root || !status) { return; }
  var live = { waiting: 1, scanned: 1, confirm: 1 };
  var pageUrl = root.getAttribute("data-page-url");
  var rendered = root.getAttribute("data-state");  // what the server rendered (the confirm code, for one)
  var next = root.getAttribute("data-next");
  if (rendered === "succeeded" && next) {  // reloaded after success: continue to the application
    window.location.replace(next);
    return;
  }
  // Send-a-code (SPEC §13): when the shown code expires, reload: the page then shows a fresh one.
  var codeSeconds = parseInt(root.getAttribute("data-code-seconds") || "", 10);
  if (isFinite(codeSeconds) && codeSeconds > 0) {
    window.setTimeout(function () { if (root.getAttribute("data-state") === "waiting") { window.location.replace(pageUrl); } },
                      codeSeconds * 1000);
  }
  var eventsUrl = root.getAttribute("data-events-url");
  var statusUrl = root.getAttribute("data-status-url");
  // Only a page rendered while the QR is live listens: a refused or binding page is final as rendered.
  if (!eventsUrl || !statusUrl || !live[rendered]) { return; }

  var source = null;
  var done = false;
  var delay = 1000;        // polling backoff, grows to MAX_DELAY while the server keeps failing
  var MAX_DELAY = 10000;
  var STREAM_AGAIN_MS = 30000;  // while polling, try a stream again after this long
  var pollingSince = 0;

  function show(state, message) {
    status.setAttribute("data-state", state);
    status.className = "status status-" + state;
    status.textContent = message;
    root.setAttribute("data-state", state);
  }

  function finish(url) {
    done = true;
    if (source) { source.close(); }
    window.location.replace(url);
  }

  // Returns true when the page is leaving or the session is over.
  var waitingText = root.getAttribute("data-text-waiting");  // the page's own wording (long-press to follow)
  function handle(data) {
    if (data.state === "succeeded" && data.next) {
      // Leave first: the navigation starts before the page spends time on its own last words.
      done = true;
      window.location.assign(data.next);
      if (source) { source.close(); }
    }
    if (data.state === "waiting" && waitingText) { show(data.state, waitingText); }
    else if (data.message) { show(data.state, data.message); }
    if (data.state === "succeeded" && data.next) {
      return done;
    } else if (data.state === "expired") {
      finish(pageUrl);  // the page makes a new QR code for the same login
    } else if (data.state === "binding" || data.state === "refused" ||
               (data.state === "confirm" && rendered !== "confirm")) {
      finish(pageUrl);  // server-rendered form or message
    } else if (!live[data.state]) {
      finish(pageUrl);
    }
    return done;
  }

  function retryAfter(response) {
    var value = parseInt(response.headers.get("Retry-After") || "", 10);
    return isFinite(value) && value > 0 ? Math.min(value * 1000, 60000) : 0;
  }

  function poll() {
    if (done) { return; }
    if (pollingSince && Date.now() - pollingSince > STREAM_AGAIN_MS && window.EventSource) {
      listen();
      return;
    }
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404) { finish(pageUrl); return null; }
        if (!response.ok) {
          var wait = retryAfter(response) || delay;
          delay = Math.min(delay * 2, MAX_DELAY);
          window.setTimeout(poll, wait);
          return null;
        }
        delay = 1000;
        return response.json();
      })
      .then(function (data) {
        if (data && !handle(data)) { window.setTimeout(poll, 2000); }
      })
      .catch(function () {
        delay = Math.min(delay * 2, MAX_DELAY);
        window.setTimeout(poll, delay);
      });
  }

  function fallBackToPolling() {
    if (source) { source.close(); source = null; }
    if (done) { return; }
    pollingSince = Date.now();
    poll();
  }

  function listen() {
    pollingSince = 0;
    source = new EventSource(eventsUrl);
    source.addEventListener("state", function (event) {
      delay = 1000;
      handle(JSON.parse(event.data));
    });
    source.onerror = function () {
      // A closed source (HTTP error such as 429 or 503) never reconnects by itself: poll instead. An open
      // one that dropped is being reconnected by the browser; the poll also covers a missed change.
      if (!source || source.readyState === 2) { fallBackToPolling(); }
    };
  }

  if (window.EventSource) { listen(); } else { fallBackToPolling(); }
})();
