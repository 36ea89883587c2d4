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
    # the ledger (台账)
    "办理环节": "Step",
    "是否超期": "Overdue",
    "重点督办": "Key supervision",
    "全部": "All",
    "反馈问题": "Issue",
    "标题包含的文字": "text in the title",
    "排序": "Sort",
    "查询": "Search",
    "清除筛选": "Clear filters",
    "加载中…": "Loading…",
    "保存的筛选": "Saved filters",
    "（{who} 保存）": " (saved by {who})",
    "删除筛选": "Delete filter",
    "删除": "Delete",
    "尚无保存的筛选。": "No saved filters yet.",
    "编号（先建在前）": "Id (oldest first)",
    "编号（后建在前）": "Id (newest first)",
    "整改时限（早的在前）": "Deadline (earliest first)",
    "整改时限（晚的在前）": "Deadline (latest first)",
    "当前期限（早的在前）": "Current due time (earliest first)",
    "当前期限（晚的在前）": "Current due time (latest first)",
    "当前期限": "Current due time",
    "回到第一页": "Back to the first page",
    "超过 {n} 项": "more than {n}",
    "共 {n} 项": "{n} in all",
    "，本页第 {first}–{last} 项（第 {page} 页，每页 {size} 项）":
        "; rows {first}–{last} on this page (page {page}, {size} a page)",
    "导出 Excel": "Export to Excel",
    "保存当前筛选为": "Save this filter as",
    "名称，最多 50 字": "name, at most 50 characters",
    "保存筛选": "Save filter",
    "全选本页": "Select the whole page",
    "选择问题": "Select issue",
    "没有符合条件的问题。": "No issue matches.",
    "一键催办": "Chase the units",
    "向勾选问题的责任单位发送催办通知；同一问题每天只发送一次。":
        "Sends a chase notice to the units of the ticked issues; an issue is chased once a day.",
    "翻页": "Pages",
    "第一页": "First page",
    "下一页": "Next page",
    "已催办 {n} 项": "Chased {n}",
    "；{n} 项今日已催办，未重复发送（序号 {numbers}）":
        "; {n} already chased today, not sent again (No. {numbers})",
    "以下单位尚未登记联系方式，催办通知仅记入系统日志，请登记联系方式（rectify contacts add）：":
        "These units have no contact yet, so the notice went to the system log only; add their "
        "contacts (rectify contacts add): ",
    "以下问题未指定责任单位，未发送：序号 ": "These issues name no unit and were not chased: No. ",
    # the leader cockpit (领导驾驶舱)
    "截至 {at}（北京时间），": "As of {at} (Beijing time), ",
    "您包保和分管领域内的问题共": "the issues you supervise and of your sectors:",
    "全部的问题共": "all issues:",
    "{n} 项": "{n}",
    "。点击任一数字或图形，进入台账查看对应的问题。":
        ". Click any figure or chart to open the ledger with exactly those issues.",
    "我包保的问题": "Issues I supervise",
    "我包保的问题按亮灯": "Issues I supervise, by light",
    "我包保的问题按亮灯统计": "Issues I supervise, by light",
    "我分管领域": "My sectors",
    "分管领域（问题类别）按亮灯统计": "My sectors (categories), by light",
    "尚未登记您的分管领域（包保领域）。请整改办用 rectify people add --sector 登记。":
        "No sector is registered for you yet; the office registers it with "
        "rectify people add --sector.",
    "合计": "Total",
    "领域": "Sector",
    "按亮灯统计": "By light",
    "按亮灯统计图": "Chart by light",
    "按亮灯统计（数据表）": "By light (table)",
    "按亮灯": "by light",
    "问题数": "Issues",
    "按整改状态统计": "By state",
    "按整改状态统计图": "Chart by state",
    "按整改状态统计（数据表）": "By state (table)",
    "按领域（问题类别）和亮灯统计": "By sector (category) and light",
    "按领域和亮灯统计（数据表）": "By sector and light (table)",
    "没有填写问题类别的问题。": "No issue names a category.",
    "另有 {n} 项未填问题类别，未列入本表。":
        "{n} more issues name no category and are not in this table.",
    "逾期问题": "Overdue issues",
    "重点督办问题": "Issues under key supervision",
    "（显示 {shown} 项，共 {n} 项）": " ({shown} shown of {n})",
    "逾期天数": "Days overdue",
    "{n} 天": "{n} days",
    "没有{what}。": "None: {what}.",
    "查看全部 {n} 项": "See all {n}",
    "暂无问题": "No issues",
    "责任单位排名": "Units' ranking",
    "红榜": "Red list (best)",
    "黑榜": "Black list (most overdue)",
    "完成率": "Completion rate",
    "逾期率": "Overdue rate",
    "，已销号 {n} 项：": ", {n} cleared: ",
    "逾期 {n} 项": "{n} overdue",
    "已销号": "Cleared",
    "回头看": "Follow-up review",
    "暂无上榜单位。": "No unit on this list.",
    "完成率 = 已销号 ÷ 问题总数；逾期率 = 逾期未完成 ÷ 问题总数。"
    "已销号指处于{states}状态的问题；逾期未完成指已过整改时限、尚未完成整改的问题。":
        "Completion rate = cleared ÷ all issues; overdue rate = overdue and not completed ÷ all "
        "issues. Cleared means in the states {states}; overdue means past the deadline and "
        "not yet completed.",
    "一个单位的问题指它牵头、负责或配合办理的问题（与台账按“责任单位”筛选相同），"
    "一个问题计入办理它的每个单位。":
        "A unit's issues are those it leads, is responsible for or cooperates on (as the "
        "ledger's unit filter), and an issue counts for every unit that works it.",
    "红榜：无逾期未完成问题的单位，按完成率从高到低（相同时问题总数多者在前）取前 {n} 名；"
    "黑榜：有逾期未完成问题的单位，按逾期率从高到低（相同时逾期问题多者在前）取前 {n} 名。":
        "Red list: the units with nothing overdue, by completion rate, highest first (more "
        "issues first on a tie), the first {n}; black list: the units with overdue issues, "
        "by overdue rate, highest first (more overdue issues first on a tie), the first {n}.",
    "各单位完成率图": "Completion rate by unit",
    "各单位完成情况（按完成率排序）": "Units by completion rate",
    "排名": "Rank",
    "问题总数": "Issues",
    "逾期未完成": "Overdue",
    "暂无责任单位的问题。": "No unit has issues yet.",
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


def light_name(key: str, label_zh: str) -> str:
    """A light's name (``LIGHT_LABELS``) in the page's language."""
    from workflow.spec.timers import LIGHT_LABELS

    if current.get() == "en" and key in LIGHT_LABELS:
        return LIGHT_LABELS[key][1]
    return label_zh


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
