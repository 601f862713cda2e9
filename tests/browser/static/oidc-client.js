// A single-page app configured only from discovery, using oidc-client-ts unmodified.
(function () {
  var params = new URLSearchParams(window.location.search);
  var manager = new oidc.UserManager({
    authority: params.get("issuer"),
    client_id: params.get("client_id"),
    redirect_uri: window.location.origin + "/static/popup-callback.html",
    popup_redirect_uri: window.location.origin + "/static/popup-callback.html",
    response_type: "code",
    scope: "openid profile",
    loadUserInfo: true
  });
  document.getElementById("spa-login").addEventListener("click", function () {
    manager.signinPopup().then(function (user) {
      document.getElementById("spa-result").textContent = JSON.stringify(user.profile);
      document.body.setAttribute("data-signed-in", "yes");
    }).catch(function (err) {
      document.getElementById("spa-result").textContent = "error: " + err.message;
      document.body.setAttribute("data-signed-in", "error");
    });
  });
})();
