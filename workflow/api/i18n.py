"""The pages' language: Chinese (the default, what the office reads) or English, chosen by
the person with the switch in every page's header (``/language/en``, ``/language/zh``) and
kept in a cookie (``rectify_lang``). Templates mark what they say with ``_("…")`` (Jinja2's
i18n extension); the message is the Chinese text itself and ``ENGLISH`` its translation, so a
message without one reads in Chinese in both languages rather than not at all. Labels that
come from the definitions (states, steps, fields) carry their own English (``label_en``)."""

from __future__ import annotations

from contextvars import ContextVar

from fastapi import Request

COOKIE = "rectify_lang"
LANGUAGES = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}
current: ContextVar[str] = ContextVar("rectify_language", default="zh")
# The page being answered (path and query), where the language switch comes back to.
here: ContextVar[str] = ContextVar("rectify_page", default="/")

ENGLISH: dict[str, str] = {
    # the frame
    "整改督办": "Rectification supervision",
    "主导航": "Main navigation",
    "退出登录": "Sign out",
    "语言": "Language",
    "台账": "Ledger",
    "领导驾驶舱": "Leader cockpit",
    "新建问题": "New issue",
    "系统管理": "Administration",
    "我的待办": "My to-do",
    "验收待办": "Acceptance to-do",
    "整改办": "Rectification office",
    "责任单位": "Responsible unit",
    "验收单位": "Acceptance unit",
    "包保领导": "Supervising leader",
    "纪检监察机关": "Discipline inspection",
    "公众": "Public",
    # sign-in
    "登录": "Sign in",
    "登录 rectify": "Sign in to rectify",
    "会话已结束（超时或已退出），请重新登录。":
        "Your session has ended (idle too long, or signed out); please sign in again.",
    "账号": "Login",
    "密码": "Password",
    "动态口令（已开启时填写）": "One-time code (when enabled)",
    # errors
    "出错了": "Something went wrong",
    "返回台账": "Back to the ledger",
    "页面不存在。": "This page does not exist.",
    "不支持此操作。": "This action is not supported.",
    "请求的地址有误。": "The address of the request is not valid.",
    "服务器内部错误，已记录在服务器日志中；请将时间和网址告知系统管理员。":
        "Internal server error, recorded in the server log; please tell the administrator "
        "the time and the address.",
}


def gettext(message: str) -> str:
    """``message`` in the page's language."""
    if current.get() == "en":
        return ENGLISH.get(message, message)
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    return gettext(singular if count == 1 else plural)


def language_of(request: Request) -> str:
    """The language the request's cookie chose, else Chinese."""
    chosen = request.cookies.get(COOKIE, "")
    return chosen if chosen in LANGUAGES else "zh"


def same_site_path(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``: the switch sends the person
    back to the page it came from and never to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target
