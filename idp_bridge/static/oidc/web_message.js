// response_mode=web_message (SPEC §8): post the authorization response to the opener, to the application's
// registered origin only (never "*"), then close the pop-up.
(function () {
  var holder = document.getElementById("web-message");
  var target = holder.getAttribute("data-target-origin");
  var message = JSON.parse(holder.getAttribute("data-message"));
  if (window.opener && target && target !== "null") {
    window.opener.postMessage(message, target);
    window.close();
  } else {
    document.getElementById("web-message-status").textContent =
      "This window was not opened by the application. Go back to it and try again.";
  }
})();
