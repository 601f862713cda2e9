// response_mode=form_post: submit the hidden form at once (external file: no inline script under CSP).
document.getElementById("form-post").submit();
