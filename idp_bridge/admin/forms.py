"""Console forms (Flask-WTF). They carry the CSRF token and turn fields into values; the **rules** stay in
the domain functions the CLI calls (oidc/registration.py, accounts/admin.py, admin/admins.py), whose
``ValidationError`` is shown next to its field, in the same words as the CLI's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField

from idp_bridge.admin.models import ROLES
from idp_bridge.oidc.registration import ALGS
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.connections import ASSOCIATIONS, ENCRYPTION_MODES


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class ClientForm(FlaskForm):
    name = StringField("name")
    redirect_uris = TextAreaField("redirect_uris")
    logout_uris = TextAreaField("logout_uris")
    web_origins = TextAreaField("web_origins")
    connections = TextAreaField("connections")
    public = BooleanField("public")
    third_party = BooleanField("third_party")
    try_page = BooleanField("try_page")
    resource_server = BooleanField("resource_server")
    id_token_alg = SelectField("id_token_alg", choices=list(ALGS))


class InviteForm(FlaskForm):
    role = SelectField("role", choices=list(ROLES))


def lines(text: str | None) -> list[str]:
    """One value per line, blanks ignored (the form's way of repeating a CLI option)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def attach(form: FlaskForm, error: ValidationError, mapping: dict[str, str]) -> None:
    """Show a domain error next to the form field it names (``mapping``: domain field → form field)."""
    field = getattr(form, mapping.get(error.field, error.field), None)
    target = field if field is not None else form.name
    target.errors = [*list(target.errors or []), f"{error.field}: {error.rule}"]


class ConnectionForm(FlaskForm):
    """Secrets are write-only: on edit an empty field keeps the stored value ("replace" semantics)."""

    identifier = StringField("identifier")
    display_name = StringField("display_name")
    app_id = StringField("app_id")
    app_secret = PasswordField("app_secret")
    token = StringField("token")
    encryption = SelectField("encryption", choices=list(ENCRYPTION_MODES), default="safe")
    encoding_aes_key = StringField("encoding_aes_key")
    association = SelectField("association", choices=list(ASSOCIATIONS), default="none")
    reply_text = TextAreaField("reply_text")
    scene_prefix = StringField("scene_prefix")
    login_only = BooleanField("login_only")
    confirm_in_wechat = BooleanField("confirm_in_wechat")


class DeleteForm(FlaskForm):
    confirm = StringField("confirm")
