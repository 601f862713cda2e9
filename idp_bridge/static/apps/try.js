// Try login: a tiny public OIDC client in the page. PKCE S256 + state + nonce, pop-up with
// response_mode=web_message, code exchange and userinfo from JavaScript, then show the claims.
(function () {
  "use strict";
  var root = document.getElementById("try-root");
  var button = document.getElementById("try-signin");
  if (!root || !button) { return; }
  var issuer = root.getAttribute("data-issuer");
  var clientId = root.getAttribute("data-client-id");
  var redirectUri = root.getAttribute("data-redirect-uri");
  var statusEl = document.getElementById("try-status");

  function b64url(bytes) {
    var s = "";
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function random() { return b64url(crypto.getRandomValues(new Uint8Array(32))); }
  function decodePayload(jwt) {
    var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    var json = decodeURIComponent(Array.prototype.map.call(atob(part), function (c) {
      return "%" + ("00" + c.charCodeAt(0).toString(16)).slice(-2);
    }).join(""));
    return JSON.parse(json);
  }

  button.addEventListener("click", function () {
    var verifier = random(), state = random(), nonce = random();
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (hash) {
      var params = new URLSearchParams({
        response_type: "code", client_id: clientId, redirect_uri: redirectUri, scope: "openid profile",
        state: state, nonce: nonce, code_challenge: b64url(new Uint8Array(hash)), code_challenge_method: "S256",
        display: "popup", response_mode: "web_message"
      });
      var popup = window.open(issuer + "/oauth/authorize?" + params.toString(), "idpb-try", "width=500,height=600");
      statusEl.textContent = "Waiting for you to sign in in the pop-up…";
      function onMessage(event) {
        if (event.origin !== issuer || !event.data || event.data.type !== "authorization_response") { return; }
        var response = event.data.response || {};
        if (response.state !== state) { return; }
        window.removeEventListener("message", onMessage);
        if (popup && !popup.closed) { popup.close(); }
        if (response.error) { statusEl.textContent = "Error: " + response.error; return; }
        statusEl.textContent = "Exchanging the code…";
        fetch(issuer + "/oauth/token", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "authorization_code", code: response.code,
                                      redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier })
        }).then(function (r) { return r.json(); }).then(function (tokens) {
          if (!tokens.id_token) { throw new Error(tokens.error || "no id_token"); }
          var claims = decodePayload(tokens.id_token);
          if (claims.nonce !== nonce) { throw new Error("nonce mismatch"); }
          document.getElementById("try-claims").textContent = JSON.stringify(claims, null, 2);
          return fetch(issuer + "/oauth/userinfo", { headers: { Authorization: "Bearer " + tokens.access_token } });
        }).then(function (r) { return r.json(); }).then(function (info) {
          document.getElementById("try-userinfo").textContent = JSON.stringify(info, null, 2);
          document.getElementById("try-result").hidden = false;
          statusEl.textContent = "Signed in.";
          statusEl.setAttribute("data-state", "signed-in");
        }).catch(function (err) { statusEl.textContent = "Error: " + err.message; });
      }
      window.addEventListener("message", onMessage);
    });
  });
})();
