"""Signals between packages (blinker, as Authlib's ``integrations/flask_oauth2/signals.py``).

Producers send; observers (metrics, later the events outbox) connect. Nobody calls another package back by
a string key, and a package with no observer costs one no-op send.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A login session reached a decision. kwargs: ``connection`` (identifier), ``outcome`` (success, binding,
#: confirm, ``refused_<reason>``), ``user_id`` (or None), ``login_session`` (id). Sent after the decision
#: committed.
login_decided = _signals.signal("login-decided")

#: A temporary QR code was created. kwargs: ``connection``, ``used`` (today's count), ``budget``.
qr_created = _signals.signal("qr-created")

#: The WeChat API answered. kwargs: ``endpoint``, ``errcode`` (0 on success).
wechat_api_called = _signals.signal("wechat-api-called")

#: A decision reached the waiting page. kwargs: ``seconds`` (event accepted → pushed to the page).
login_delivered = _signals.signal("login-delivered")

#: An administrator blocked a user. kwargs: ``user_id``. The provider revokes the user's live SSO sessions and
#: tokens (a blocked user keeps no session anywhere) without the accounts package importing the provider.
user_blocked = _signals.signal("user-blocked")

#: A user row was created (first login or pre-provisioning). kwargs: ``user_id``, ``connection_id`` (or None).
#: Sent before the creating transaction commits: observers add rows to the same transaction (events outbox).
user_created = _signals.signal("user-created")

#: A WeChat identity was linked to an existing user (unionid association or binding code). kwargs:
#: ``user_id``, ``connection_id``, ``via`` ("unionid" | "binding"). Sent before the commit.
identity_linked = _signals.signal("identity-linked")

#: An administrator is deleting a user. kwargs: ``user_id``. Sent before the row goes, in its transaction.
user_deleting = _signals.signal("user-deleting")

#: SSO sessions ended (RP-initiated logout, sign-out everywhere). kwargs: ``user_id``, ``sids``. Sent before
#: the commit.
sso_ended = _signals.signal("sso-ended")

#: WeChat pushed a follow or unfollow (any scene, once per push, under its claim). kwargs: ``connection_id``,
#: ``openid``, ``kind`` ("subscribe" | "unsubscribe"), ``scene`` (a login scene, or None).
follow_changed = _signals.signal("follow-changed")

#: A browser signed in (the SSO session started, the authorization resumes). kwargs: ``user_id``,
#: ``client_id``, ``connection_id`` (or None), ``pending_id``, ``sid``, ``sub``, ``new_follower`` (the deciding
#: scan was a follow). Sent before the commit.
login_completed = _signals.signal("login-completed")

#: Every SSO session and token of a user is about to be revoked (block, sign out everywhere). kwargs:
#: ``user_id``. Sent before the revocation, in its transaction.
sessions_revoking = _signals.signal("sessions-revoking")

#: A login session moved between states (``login.sessions.transition`` won its compare-and-set). Sent *before*
#: the move commits, so receivers add rows to the same transaction. kwargs: ``session_id``, ``target`` (the
#: state's value), ``facts`` (the columns written with it).
login_session_moved = _signals.signal("login-session-moved")
