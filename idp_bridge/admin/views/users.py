"""Users screen (SPEC §12 screen 4): search, keyset pagination, the user page, block/unblock, sign out
everywhere, consents, unlinking an identity, creating a user — through the same ``accounts`` functions as
``idp-bridge user``, whose ``ValidationError`` words the console shows unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import abort, g, redirect, request
from sqlalchemy import or_
from werkzeug.wrappers import Response

from idp_bridge import audit
from idp_bridge.accounts import admin as accounts
from idp_bridge.accounts import consents
from idp_bridge.accounts.identities import unlink_identity
from idp_bridge.accounts.models import Identity, User
from idp_bridge.admin import bp
from idp_bridge.admin.csvexport import batches, stream
from idp_bridge.admin.forms import ActionForm, DeleteForm, attach
from idp_bridge.admin.user_forms import ConsentForm, UnlinkForm, UserCreateForm
from idp_bridge.admin.views.render import page, stale_signin
from idp_bridge.audit import AuditEvent
from idp_bridge.extensions import db
from idp_bridge.numbers import ROW_ID_MAX, parse_int_or
from idp_bridge.oidc.lookup import lookup_key
from idp_bridge.oidc.models import SsoSession
from idp_bridge.oidc.sso import revoke_everything_of
from idp_bridge.timeutil import utcnow
from idp_bridge.validation import ValidationError
from idp_bridge.wechat.connections import get_connection, list_connections

PAGE = 50


@dataclass(frozen=True)
class UserFilter:
    """The list's filters (SPEC §12 screen 4): text, blocked, connection, created on or after a day."""

    q: str = ""
    blocked: bool = False
    connection: str = ""
    since: str = ""

    @classmethod
    def from_request(cls) -> UserFilter:
        return cls(request.args.get("q", "")[:100], request.args.get("blocked") == "1",
                   request.args.get("connection", "")[:31], request.args.get("since", "")[:10])

    def args(self) -> dict[str, str]:
        """Query arguments reproducing this filter (pagination and export links)."""
        found = {"q": self.q, "blocked": "1" if self.blocked else "", "connection": self.connection,
                 "since": self.since}
        return {k: v for k, v in found.items() if v}


def search(filters: UserFilter, before: int, limit: int = PAGE) -> list[User]:
    """Newest first by primary key (a stable order), ``before`` as the keyset cursor: each page is one index
    range scan however deep it is. Matches an exact sub, openid or unionid (indexed lookups, run apart so
    that the name scan cannot drag them into a sequential plan) or else a name prefix (case-insensitive)."""
    text = filters.q.strip()
    key = lookup_key(text, 100) if text else None
    if text and key is None:
        return []
    connection = get_connection(filters.connection) if filters.connection else None
    if filters.connection and connection is None:
        return []
    try:
        since = datetime.strptime(filters.since, "%Y-%m-%d").replace(tzinfo=UTC) if filters.since else None
    except ValueError:
        since = None

    def page_of(condition: Any) -> list[User]:
        statement = db.select(User).order_by(User.id.desc()).limit(limit)
        if condition is not None:
            statement = statement.where(condition)
        if before:
            statement = statement.where(User.id < before)
        if filters.blocked:
            statement = statement.where(User.blocked.is_(True))
        if connection is not None:
            statement = statement.where(User.id.in_(db.select(Identity.user_id).where(
                Identity.connection_id == connection.id)))
        if since is not None:
            statement = statement.where(User.created_at >= since)
        return list(db.session.scalars(statement))

    if not key:
        return page_of(None)
    exact = set(db.session.scalars(db.select(User.id).where(User.sub == key)))
    exact |= set(db.session.scalars(db.select(Identity.user_id).where(
        or_(Identity.openid == key, Identity.unionid == key))))
    if exact:  # an identifier names one person: no name scan on top
        return page_of(User.id.in_(exact))
    return page_of(User.name.ilike(_prefix(text)))


def _prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@bp.get("/users")
def users() -> Response:
    filters = UserFilter.from_request()
    before = parse_int_or(request.args.get("before"), 0, maximum=ROW_ID_MAX)
    rows = search(filters, before)
    more = rows[-1].id if len(rows) == PAGE else None
    return page("users.html", rows=rows, f=filters, more=more, first=bool(before),
                connections=[c.identifier for c in list_connections()])


@bp.get("/users.csv")
def users_csv() -> Response:
    """The filtered list as CSV, streamed in keyset batches."""
    filters = UserFilter.from_request()
    rows = batches(lambda before, limit: search(filters, before, limit), lambda u: u.id)
    audit.record("user.export", actor=g.admin.sub, target=filters.q[:128])
    return stream("users.csv", ["sub", "name", "blocked", "created_at"],
                  ([u.sub, u.name, u.blocked, u.created_at.isoformat()] for u in rows))


def _user(sub: str) -> User:
    user = accounts.get_user(sub) if lookup_key(sub) else None
    if user is None:
        abort(404)
    return user


def _user_page(user: User, status: int = 200, **extra: Any) -> Response:
    """Identities, consents, the last sign-ins (the dispatcher's audit rows name ``user:<id>``) and live SSO
    sessions."""
    identities = [{"id": i.id, "connection": accounts.identity_connection(i), "openid": i.openid,
                   "unionid": i.unionid, "last_login_at": iso(i.last_login_at) if i.last_login_at else None}
                  for i in user.identities]
    history = db.session.scalars(db.select(AuditEvent).where(AuditEvent.actor == f"user:{user.id}")
                                 .order_by(AuditEvent.id.desc()).limit(20))
    sessions = db.session.scalars(db.select(SsoSession).where(SsoSession.user_id == user.id,
                                                              SsoSession.revoked_at.is_(None),
                                                              SsoSession.expires_at > utcnow()))
    return page("user.html", status, user=user, identities=identities, history=list(history),
                sessions=list(sessions), consents=consents.of(user), form=ActionForm(), delete=DeleteForm(),
                unlink=UnlinkForm(formdata=None), done=request.args.get("done"), **extra)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new() -> Response:
    """Pre-provisioning (SPEC §12 screen 4, ``idp-bridge user create``): a login-only connection admits only
    people it already knows. Field errors are the CLI's words; nothing is written unless all fields pass."""
    form = UserCreateForm()
    form.connection.choices = [("", "—")] + [(c.identifier, c.identifier) for c in list_connections()]
    if request.method == "GET":
        return page("user_new.html", form=form)

    def value(text: str | None) -> str | None:
        return text.strip() if text and text.strip() else None

    try:
        user = accounts.create_user(value(form.name.data), value(form.openid.data), value(form.connection.data),
                                    value(form.unionid.data))
    except ValidationError as error:
        attach(form, error, {})
        return page("user_new.html", 400, form=form)
    audit.record("user.create", actor=g.admin.sub, target=user.sub,
                 connection=value(form.connection.data) if value(form.openid.data) else None)
    return _done(user)


@bp.get("/users/<sub>")
def user_page(sub: str) -> Response:
    return _user_page(_user(sub))


@bp.post("/users/<sub>/invite")
def user_invite(sub: str) -> Response:
    """A one-time binding code (connections with association=binding), shown once — as `user invite`."""
    user = _user(sub)
    code, row = accounts.invite(user)
    audit.record("user.invite", actor=g.admin.sub, target=user.sub)
    return _user_page(user, binding_code=code, binding_expires=row.expires_at)


@bp.post("/users/<sub>/delete")
def user_delete(sub: str) -> Response:
    user = _user(sub)
    if (stale := stale_signin(f"/admin/users/{user.sub}")) is not None:
        return stale
    if DeleteForm().confirm.data != user.sub:
        abort(400)
    accounts.delete_user(user)
    return redirect("/admin/users", 303)


def _done(user: User) -> Response:
    return redirect(f"/admin/users/{user.sub}?done=1", 303)


@bp.post("/users/<sub>/block")
def block(sub: str) -> Response:
    user = _user(sub)
    accounts.set_blocked(user, True)
    return _done(user)


@bp.post("/users/<sub>/unblock")
def unblock(sub: str) -> Response:
    user = _user(sub)
    accounts.set_blocked(user, False)
    return _done(user)


@bp.post("/users/<sub>/signout")
def sign_out_everywhere(sub: str) -> Response:
    """Ends every SSO session and revokes every token of the user (as blocking does), leaving them able to
    sign in again."""
    user = _user(sub)
    revoke_everything_of(None, user_id=user.id)
    db.session.commit()
    audit.record("user.signout_everywhere", actor=g.admin.sub, target=user.sub)
    return _done(user)


@bp.post("/users/<sub>/unlink")
def user_unlink(sub: str) -> Response:
    """Unlink one identity, named by the form's ``identity`` (``accounts.identities``: the last one only with
    ``confirm_last``). A refusal shows the user page again with the rule, status 400, nothing changed."""
    user = _user(sub)
    form = UnlinkForm()
    try:
        unlink_identity(user, parse_int_or(form.identity.data, 0, maximum=ROW_ID_MAX),
                        allow_last=bool(form.confirm_last.data))
    except ValidationError as error:
        return _user_page(user, 400, error=f"{error.field}: {error.rule}")
    return _done(user)


@bp.post("/users/<sub>/consents/revoke")
def user_consent_revoke(sub: str) -> Response:
    """Withdraw a consent to a third-party application and revoke that application's tokens for this user."""
    user = _user(sub)
    try:
        consents.revoke(user, ConsentForm().client_id.data or "")
    except ValidationError as error:
        return _user_page(user, 400, error=f"{error.field}: {error.rule}")
    return _done(user)


def iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


@bp.get("/")
def index() -> Response:
    return redirect("/admin/overview", 303)
