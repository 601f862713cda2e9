"""The console's words in Chinese and English (SPEC §12: zh/en by Accept-Language), like the login page."""

from __future__ import annotations

from flask import g

from idp_bridge.login.i18n import language

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "console": "idp-bridge console", "users": "Users", "apps": "Applications", "keys": "Signing keys",
        "audit": "Audit log", "admins": "Admins", "signout": "Sign out", "signed_in_as": "Signed in as {sub} ({role})",
        "search": "Search", "search_label": "Name, sub, openid or unionid", "blocked_only": "Blocked only",
        "next": "Next page", "prev": "First page", "name": "Name", "sub": "Subject (sub)", "blocked": "Blocked",
        "created": "Created", "identities": "Identities", "connection": "Connection", "openid": "openid",
        "unionid": "unionid", "last_login": "Last sign-in", "block": "Block", "unblock": "Unblock",
        "signout_everywhere": "Sign out everywhere", "yes": "yes", "no": "no", "none": "Nothing here yet.",
        "done": "Done.", "client_id": "Client ID", "type": "Type", "create_app": "Register an application",
        "redirect_uris": "Redirect URIs (one per line)", "logout_uris": "Post-logout redirect URIs (one per line)",
        "web_origins": "Web origins (one per line)", "public": "Public client (browser or native app, PKCE)",
        "third_party": "Third party (show a consent screen)", "try_page": "Enable the Try login page",
        "connections": "Connections (one per line, empty = all)", "id_token_alg": "ID token algorithm",
        "resource_server": "Resource server (may introspect tokens)", "save": "Save", "create": "Create",
        "secret_once": "Client secret — store it now, it is not shown again:", "try_login": "Try login",
        "discovery": "Discovery URL", "edit": "Edit", "rotate_secret": "Rotate secret", "kid": "Key ID",
        "alg": "Algorithm", "state": "State", "rotate": "Rotate", "fresh": "This action needs a sign-in younger "
        "than 5 minutes: you will be asked to sign in again.", "role": "Role", "revoked": "Revoked",
        "invite": "Create invite", "invite_url": "One-time invite URL (24 h) — give it to the new admin only:",
        "revoke": "Revoke", "actor": "Actor", "action": "Action", "target": "Target", "outcome": "Outcome",
        "at": "When", "since": "From (YYYY-MM-DD)", "until": "To (YYYY-MM-DD)", "filter": "Filter",
        "signed_out": "You signed out of the console.", "signin_again": "Sign in again",
        "end_bridge": "Also end your single sign-on session at the bridge", "denied": "No console access",
        "denied_text": "This WeChat account is not an administrator of this bridge, or the invite was used or "
        "expired. Ask an administrator for an invite (idp-bridge admin invite).",
        "signin_failed": "The sign-in could not be completed. Try again.", "export": "Export CSV",
        "user": "User", "overview": "Overview", "viewer_note": "Read-only (viewer): actions are disabled.",
        "field_error": "{field}: {rule}",
    },
    "zh": {
        "console": "idp-bridge 管理控制台", "users": "用户", "apps": "应用", "keys": "签名密钥",
        "audit": "审计日志", "admins": "管理员", "signout": "退出", "signed_in_as": "当前登录：{sub}（{role}）",
        "search": "搜索", "search_label": "名称、sub、openid 或 unionid", "blocked_only": "仅显示已停用",
        "next": "下一页", "prev": "第一页", "name": "名称", "sub": "用户标识（sub）", "blocked": "已停用",
        "created": "创建时间", "identities": "微信身份", "connection": "公众号连接", "openid": "openid",
        "unionid": "unionid", "last_login": "最近登录", "block": "停用", "unblock": "启用",
        "signout_everywhere": "在所有应用中退出", "yes": "是", "no": "否", "none": "暂无数据。",
        "done": "已完成。", "client_id": "Client ID", "type": "类型", "create_app": "注册应用",
        "redirect_uris": "回调地址（每行一个）", "logout_uris": "登出后跳转地址（每行一个）",
        "web_origins": "Web 源（每行一个）", "public": "公开客户端（浏览器或原生应用，PKCE）",
        "third_party": "第三方应用（显示授权确认页）", "try_page": "启用“体验登录”页面",
        "connections": "公众号连接（每行一个，留空表示全部）", "id_token_alg": "ID Token 签名算法",
        "resource_server": "资源服务器（可内省令牌）", "save": "保存", "create": "创建",
        "secret_once": "Client Secret——请立即保存，之后不再显示：", "try_login": "体验登录",
        "discovery": "Discovery 地址", "edit": "编辑", "rotate_secret": "重置密钥", "kid": "密钥 ID",
        "alg": "算法", "state": "状态", "rotate": "轮换", "fresh": "此操作需要 5 分钟内的登录：将要求你重新登录。",
        "role": "角色", "revoked": "已撤销", "invite": "创建邀请",
        "invite_url": "一次性邀请链接（24 小时有效），只发给新管理员本人：", "revoke": "撤销", "actor": "操作者",
        "action": "操作", "target": "对象", "outcome": "结果", "at": "时间", "since": "起始日期（YYYY-MM-DD）",
        "until": "结束日期（YYYY-MM-DD）", "filter": "筛选", "signed_out": "你已退出管理控制台。",
        "signin_again": "重新登录", "end_bridge": "同时结束你在身份桥的单点登录会话", "denied": "无权访问控制台",
        "denied_text": "该微信账号不是本身份桥的管理员，或邀请链接已使用或过期。请向管理员索取邀请"
        "（idp-bridge admin invite）。", "signin_failed": "登录未能完成，请重试。", "export": "导出 CSV",
        "user": "用户", "overview": "概览", "viewer_note": "只读（查看者）：操作已禁用。",
        "field_error": "{field}：{rule}",
    },
}


def words() -> dict[str, str]:
    """This request's words (the language is chosen once per request)."""
    if "admin_lang" not in g:
        g.admin_lang = language()
    return TEXT[g.admin_lang]
