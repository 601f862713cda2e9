"""The login page's words in Chinese and English, chosen from ``ui_locales`` or Accept-Language."""

from __future__ import annotations

from flask import request

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "kicker": "WeChat sign-in",
        "title": "Sign in to {app}",
        "scan": "Scan with WeChat and follow {account} to sign in",
        "waiting": "Waiting for you to scan the QR code with WeChat…",
        "scanned": "Scanned. Confirm in WeChat…",
        "binding": "First time here: enter the binding code you were given",
        "confirm": "Almost there: reply this code in the WeChat chat to sign in to {app}",
        "succeeded": "Signed in. Returning to {app}…",
        "refused": "Sign-in refused",
        "expired": "The QR code expired. Getting a new one…",
        "error": "WeChat is not answering right now",
        "refused_blocked": "This account is blocked. Contact the administrator of {app}.",
        "refused_not_registered": "This WeChat account is not registered for {app}.",
        "refused_binding": "Too many wrong binding codes.",
        "refused_confirm": "Too many wrong codes were sent in WeChat: the sign-in was cancelled.",
        "choose": "Choose how to sign in",
        "retry": "Try again with a new QR code",
        "binding_label": "Binding code",
        "binding_submit": "Bind and sign in",
        "binding_wrong": "That code is not valid. Attempts left: {left}",
        "back": "Back to {app}",
        "simulator": "Open the simulated phone",
        "simulator_chat": "Open the simulated chat to send the code",
        "rate": "Too many QR codes were requested. Wait a minute and try again.",
        "wechat_error": "The QR code could not be created: {detail}",
        "no_connection": "No WeChat account is configured for this application.",
        "expires": "Expires at {time}",
        "album": "On a phone? Save or screenshot this QR code, then in WeChat tap + → Scan → Album and pick it.",
        "code_title": "Or sign in with a code",
        "code_only_title": "Sign in with a code",
        "code_send": "Send this code to {account} in WeChat (search the account, follow it, and send the code as a "
                     "message). It is valid for 5 minutes.",
        "code_private": "Like a QR code, this code signs in whoever sends it: do not show it to anyone.",
        "code_account_qr": "Scan to open {account}",
        "waiting_code": "Waiting for the code in WeChat…",
        "code_new": "Get a new code",
        "long_press": "Long-press the QR code and choose “Follow” to follow {account}: you are then signed in.",
        "notice_follow": "To sign in, follow the account first.",
        "waiting_follow": "Waiting for you to follow the account…",
        "notice_failed": "Signing in through WeChat did not work this time: use the QR code instead.",
        "state_refused": "This sign-in link was already used, has expired or belongs to another browser. Go back "
                         "to the application and start again.",
    },
    "zh": {
        "kicker": "微信扫码登录",
        "title": "登录 {app}",
        "scan": "请使用微信扫码并关注「{account}」完成登录",
        "waiting": "等待微信扫码…",
        "scanned": "已扫码，请在微信中确认…",
        "binding": "首次登录：请输入绑定码",
        "confirm": "最后一步：请在微信对话中回复以下数字，确认登录 {app}",
        "succeeded": "登录成功，正在返回 {app}…",
        "refused": "登录被拒绝",
        "expired": "二维码已过期，正在刷新…",
        "error": "微信暂时无法响应",
        "refused_blocked": "该账号已被停用，请联系 {app} 的管理员。",
        "refused_not_registered": "该微信账号未在 {app} 注册。",
        "refused_binding": "绑定码错误次数过多。",
        "refused_confirm": "微信中回复的数字错误次数过多，登录已取消。",
        "choose": "请选择登录方式",
        "retry": "重新获取二维码",
        "binding_label": "绑定码",
        "binding_submit": "绑定并登录",
        "binding_wrong": "绑定码无效，剩余次数：{left}",
        "back": "返回 {app}",
        "simulator": "打开模拟手机",
        "simulator_chat": "打开模拟聊天发送登录码",
        "rate": "二维码请求过于频繁，请一分钟后再试。",
        "wechat_error": "无法生成二维码：{detail}",
        "no_connection": "该应用尚未配置微信公众号。",
        "expires": "{time} 过期",
        "album": "在手机上？请保存或截屏此二维码，然后在微信中点 + → 扫一扫 → 相册，选择该图片。",
        "code_title": "或使用登录码登录",
        "code_only_title": "使用登录码登录",
        "code_send": "请在微信中向「{account}」发送此登录码（搜索并关注该公众号后，以消息发送）。5 分钟内有效。",
        "code_private": "与二维码一样，谁发送此登录码谁就会登录：请勿向他人展示。",
        "code_account_qr": "扫码打开「{account}」",
        "waiting_code": "等待在微信中发送登录码…",
        "code_new": "获取新的登录码",
        "long_press": "长按二维码，选择“关注公众号”关注「{account}」即可登录。",
        "notice_follow": "请先关注公众号再登录。",
        "waiting_follow": "等待您关注公众号…",
        "notice_failed": "本次未能通过微信直接登录，请改用二维码。",
        "state_refused": "该登录链接已被使用、已过期或属于另一个浏览器。请返回应用重新开始。",
    },
}


def language(ui_locales: str = "") -> str:
    for tag in ui_locales.split():
        if tag.lower().startswith("zh"):
            return "zh"
        if tag.lower().startswith("en"):
            return "en"
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"], default="en")
    return "zh" if best and best.startswith("zh") else "en"


def words(lang: str) -> dict[str, str]:
    return TEXT.get(lang, TEXT["en"])
