"""Forms of the users screen's newer actions (create, unlink, revoke a consent). Kept apart from ``forms.py`` so
each screen's fields stay with it; as there, the rules live in the domain functions (``accounts``)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField


class UserCreateForm(FlaskForm):
    """``idp-bridge user create``'s options: ``--name``, ``--connection`` with ``--openid``, ``--unionid``."""

    name = StringField("name")
    connection = SelectField("connection", choices=[], validate_choice=False)
    openid = StringField("openid")
    unionid = StringField("unionid")


class UnlinkForm(FlaskForm):
    identity = StringField("identity")
    confirm_last = BooleanField("confirm_last")


class ConsentForm(FlaskForm):
    client_id = StringField("client_id")
