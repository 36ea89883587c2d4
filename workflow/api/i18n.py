"""The pages' language: Chinese (the default, what the office reads) or English, chosen by
the person with the switch in every page's header (``/language/en``, ``/language/zh``) and
kept in a cookie (``rectify_lang``). Templates mark what they say with ``_("…")`` (Jinja2's
i18n extension); the message is the Chinese text itself and ``ENGLISH`` its translation, so a
message without one reads in Chinese in both languages rather than not at all. Labels that
come from the definitions (states, steps, fields) carry their own English (``label_en``)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

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
    # the issue page (一案一档), the inbox and the new-issue form
    "← 返回台账": "← Back to the ledger",
    "已办理：": "Done: ",
    "序号": "No.",
    "整改状态": "State",
    "亮灯": "Light",
    "责任领导": "Leader",
    "整改时限": "Deadline",
    "长期坚持": "Long-term",
    "问题类别": "Category",
    "整改措施": "Measures",
    "整改目标": "Target",
    "整改方案": "Plan",
    "配合单位": "Cooperating units",
    "公示中，公示期至 {until}，": "In public notice until {until}; ",
    "公示期已满": "the notice period is over",
    "还剩 {days} 天": "{days} days left",
    "。": ".",
    "本问题是": "This issue is a sub-task of",
    "的配合任务。": ".",
    "配合任务": "Sub-tasks",
    "阶段性节点": "Milestones",
    "（已完成）": " (reached)",
    "（已逾期）": " (missed)",
    "可办理的操作": "What you may do",
    "当前没有您可办理的操作。": "There is nothing for you to do on this issue now.",
    "公示期至 {until}，期满后方可办理（还剩 {days} 天）。":
        "The public notice runs until {until}; this can be done once it is over "
        "({days} days left).",
    "说明/理由": "Comment / reason",
    "（必填）": " (required)",
    "五个决不放过（逐项回答并说明）": "The five 'never let go' checks (answer each, with a note)",
    "是": "Yes",
    "否": "No",
    "说明": "Note",
    "佐证材料（至少 {n} 份）": "Evidence (at least {n} files)",
    "上传进度": "Upload progress",
    "报送月度进展": "Report the month's progress",
    "月份": "Month",
    "完成进度（%）": "Progress (%)",
    "达到序时进度": "On schedule",
    "整改进展": "Progress",
    "报送": "Report",
    "阶段性节点完成": "Milestone reached",
    "节点": "Milestone",
    "完成情况": "What was done",
    "节点完成": "Mark reached",
    "拆分配合任务": "Split into sub-tasks",
    "为配合单位各建一项配合任务；全部配合任务完成后，本问题方可申请验收。":
        "One sub-task per cooperating unit; this issue can apply for acceptance once every "
        "sub-task is completed.",
    "拆分": "Split",
    "领导批示": "Leader's instruction",
    "批示内容": "Instruction",
    "批示": "Instruct",
    "月度进展": "Monthly progress",
    "状态": "Status",
    "进度": "Progress",
    "报送人": "Reported by",
    "未报送": "not reported",
    "已报送": "reported",
    "（未达序时进度）": " (behind schedule)",
    "办理记录（一案一档）": "Record (one file per issue)",
    "时间": "Time",
    "操作": "Action",
    "人员/单位": "Person / unit",
    "状态变化": "Change of state",
    "佐证材料": "Evidence",
    "存证哈希": "Hash",
    "待现场核查的问题，按紧迫程度排列。": "Issues waiting for a site check, most urgent first. ",
    "本单位承办的问题，按紧迫程度排列。": "Your unit's issues, most urgent first. ",
    "共 {n} 项。": "{n} in all.",
    "当前没有待办的问题。": "Nothing to do now.",
    "新建并交办问题": "Create and assign an issue",
    "反馈问题（必填）": "Issue as fed back (required)",
    "配合单位（可多选）": "Cooperating units (any number)",
    "责任领导（包保领导）": "Supervising leader",
    "（请选择）": "(choose)",
    "（无）": "(none)",
    "交办": "Assign",
    "督办单": "Supervision notice",
    # errors
    "出错了": "Something went wrong",
    "返回首页": "Back to the home page",
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


def label(values: dict[str, Any], key: str) -> str:
    """A label from the definitions in the page's language: ``values[key + "_en"]`` in
    English where the definition gives one, else ``values[key + "_zh"]``."""
    if current.get() == "en" and values.get(f"{key}_en"):
        return str(values[f"{key}_en"])
    return str(values.get(f"{key}_zh") or "")


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
