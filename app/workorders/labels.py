"""The Chinese names of work-order states, actions, sources and stages (for people: the
console's pages and problems in Chinese); the API's codes stay English."""

STATE_ZH = {
    "open": "待联系",
    "contacted": "已联系",
    "verified": "已核实（不属实）",
    "rectifying": "整改中",
    "rectified": "已整改",
    "called_back": "已回访",
    "appealed": "申诉中",
    "withdrawal_requested": "撤回待确认",
    "closed": "已办结",
}
ACTION_ZH = {
    "contact": "联系评价人",
    "verify": "核实",
    "extend": "申请延期",
    "rectify": "整改完成",
    "callback": "回访",
    "close": "办结",
    "appeal": "申诉",
    "uphold": "支持申诉",
    "reject": "驳回申诉",
    "request_withdrawal": "申请撤回",
    "confirm_withdrawal": "确认撤回",
    "refuse_withdrawal": "拒绝撤回",
    "withdraw": "撤回",
    "transfer": "转办",
}
# Timeline entries that are no action of a person.
EVENT_ZH = {"open": "生成工单", "due_soon": "临近时限", "overdue": "超期", "reopen": "重新办理"}
FIELD_ZH = {
    "note": "说明",
    "substantiated": "是否属实",
    "satisfied": "评价人是否满意",
    "evidence": "评价人确认撤回的记录",
    "department_code": "转办部门",
}
SOURCE_ZH = {"rating": "差评", "complaint": "12345投诉", "inspection": "督查"}
STAGE_ZH = {"contact": "联系时限", "rectify": "整改时限", "complex": "复杂件时限"}
OUTCOME_ZH = {
    "rectified": "已整改",
    "not_substantiated": "不属实",
    "withdrawn": "已撤回",
    "appeal_upheld": "申诉成立",
}


def actions_zh(actions: list[str]) -> str:
    """A list of actions in Chinese, for a sentence ("无" when empty)."""
    return "、".join(ACTION_ZH.get(a, a) for a in actions) or "无"


def not_allowed_zh(action: str, state: str, allowed: list[str]) -> str:
    """Why an action is refused now, in Chinese, with what may be done instead."""
    return (
        f"工单当前为“{STATE_ZH.get(state, state)}”，不能“{ACTION_ZH.get(action, action)}”；"
        f"现在可以：{actions_zh(allowed)}"
    )


def missing_zh(action: str, field: str) -> str:
    """What an action lacks, in Chinese."""
    return f"“{ACTION_ZH.get(action, action)}”需要填写：{FIELD_ZH.get(field, field)}"
