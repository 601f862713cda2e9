"""Console forms (Flask-WTF). They carry the CSRF token and turn fields into values; the **rules** stay in
the domain functions the CLI calls (oidc/registration.py, accounts/admin.py, admin/admins.py), whose
``ValidationError`` is shown next to its field, in the same words as the CLI's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from idp_bridge.admin.models import ROLES
from idp_bridge.events.outbox import TYPES
from idp_bridge.events.policy import POLICIES
from idp_bridge.oidc.registration import ALGS
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.connections import ASSOCIATIONS, ENCRYPTION_MODES
from idp_bridge.wechat.reach import ACCOUNT_TYPES


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
    backchannel_logout_uri = StringField("backchannel_logout_uri")


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
    # reach (SPEC §13) and events (SPEC §14), the options `connection create|update` has beside the above
    account_type = SelectField("account_type", choices=list(ACCOUNT_TYPES), default="service")
    account_qr_url = StringField("account_qr_url")
    code_login = BooleanField("code_login")
    web_auth = BooleanField("web_auth")
    require_follow = BooleanField("require_follow")
    on_unsubscribe = SelectField("on_unsubscribe", choices=list(POLICIES), default="keep")
    forward_url = StringField("forward_url")


class DeleteForm(FlaskForm):
    confirm = StringField("confirm")


class WebhookForm(FlaskForm):
    """``webhook create|update``'s options; the connection list is filled in by the view (empty = all)."""

    url = StringField("url")
    events = SelectMultipleField("events", choices=list(TYPES), widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput(), validate_choice=False)
    connection = SelectField("connection", choices=[""], validate_choice=False)
    enabled = BooleanField("enabled", default=True)
