"""Where a complaint came in, and its category code mapped to the rating tags' reason classes.

差评一件事, 改好一类事: a complaint about 排队 and a 差评 tagged `waiting` are the same class
of problem, so the reason analysis (GET /v1/stats/reasons?source=all) counts them together.
The free `category` text stays beside the code as detail.
"""

from __future__ import annotations

# 12345 热线, 政务服务平台/国家平台投诉, 办不成事窗口, 现场/意见簿, 其他
COMPLAINT_SOURCES = ("hotline_12345", "gov_platform", "cannot_do_window", "onsite", "other")
COMPLAINT_SOURCE_NAMES = {
    "hotline_12345": "12345热线",
    "gov_platform": "政务服务平台/国家平台投诉",
    "cannot_do_window": "办不成事窗口",
    "onsite": "现场/意见簿",
    "other": "其他",
}

# category_code → reason class (a 差评 tag of app/ratings/schemas.py BAD_TAGS)
COMPLAINT_CATEGORIES: dict[str, str] = {
    "service_attitude": "attitude",  # 服务态度
    "slow_handling": "efficiency",  # 办理效率
    "long_wait": "waiting",  # 排队等候
    "incomplete_notice": "notification",  # 一次性告知
    "repeated_trips": "multiple_trips",  # 多次跑动
    "excessive_materials": "materials",  # 材料/证明过多
    "complex_process": "process",  # 流程繁琐
    "unclear_guide": "guide",  # 办事指南
    "missed_deadline": "promise",  # 超承诺时限
    "work_discipline": "discipline",  # 工作纪律
    "improper_fees": "fees",  # 乱收费
    "system_failure": "platform",  # 系统故障/平台
    "cannot_get_done": "other",  # 办不成事
    "other": "other",
}


def reason_of(category_code: str | None) -> str | None:
    """The reason class of a complaint's category code (None without a code)."""
    return COMPLAINT_CATEGORIES.get(category_code) if category_code else None
