// The standard oidc-client-ts pop-up callback: hand the response to the opener and close.
new oidc.UserManager({ authority: "unused", client_id: "unused", redirect_uri: "unused" })
  .signinPopupCallback()
  .catch(function (err) { document.body.textContent = "callback error: " + err.message; });
