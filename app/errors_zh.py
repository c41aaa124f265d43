"""Problems in Chinese for people (`Accept-Language: zh-CN`, which the console always sends):
the title, the detail and each field's message; `type`, `code` and field names stay English."""

from __future__ import annotations

from typing import Any

TITLES = {
    "bad-request": "请求有误",
    "unauthenticated": "缺少或无效的密钥",
    "forbidden": "此密钥无权进行该操作",
    "not-found": "未找到",
    "method-not-allowed": "不支持该请求方法",
    "not-acceptable": "无法提供所请求的格式",
    "request-timeout": "请求超时",
    "conflict": "与当前状态冲突",
    "payload-too-large": "请求内容过大",
    "validation-error": "填写的内容有误",
    "malformed-body": "请求内容无法解析",
    "rate-limited": "请求过于频繁",
    "service-unavailable": "数据库暂不可用，请稍后重试",
    "not-ready": "服务尚未就绪",
    "internal-error": "服务器内部错误",
    "action-not-allowed": "工单当前状态下不允许此操作",
    "last-admin-key": "不能吊销最后一个有效的管理员密钥",
    "rating-not-withdrawable": "该评价现在不能撤回",
    "event-id-reused": "事件编号已被另一条评价使用",
    "csrf-failed": "表单已失效，请刷新页面后重试",
}
# The detail when the raiser gave no Chinese one of its own.
DETAILS = {
    "unauthenticated": "请提供有效的密钥（登录已失效时请重新登录）",
    "forbidden": "当前角色不能查看或办理此项",
    "not-found": "要找的内容不存在，或当前角色无权查看",
    "conflict": "与现有数据冲突，请检查后重试",
    "rate-limited": "请求过于频繁，请稍后再试",
    "service-unavailable": "数据库暂不可用，请稍后重试",
    "internal-error": "服务器内部错误，请联系管理员",
    "payload-too-large": "请求内容超过上限",
    "malformed-body": "请求内容不是有效的 JSON",
    "last-admin-key": "请先签发另一个管理员密钥，再吊销此密钥",
}
# pydantic's error types (and our own field codes): a message per type, {placeholders} from ctx.
FIELD_MESSAGES = {
    "missing": "必填",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_type": "应为文字",
    "string_pattern_mismatch": "格式不正确",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为“是”或“否”",
    "bool_type": "应为“是”或“否”",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "literal_error": "不是允许的取值（可选：{expected}）",
    "enum": "不是允许的取值（可选：{expected}）",
    "extra_forbidden": "不接受此字段",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "datetime_parsing": "应为带时区的日期时间，如 2026-12-01T09:00:00+08:00",
    "datetime_from_date_parsing": "应为带时区的日期时间，如 2026-12-01T09:00:00+08:00",
    "timezone_aware": "需要带时区（如 +08:00）",
    "date_parsing": "应为日期，如 2026-12-01",
    "date_from_datetime_parsing": "应为日期，如 2026-12-01",
    "json_invalid": "不是有效的 JSON",
    "uuid_parsing": "不是有效的编号",
    "value_error": "取值无效",
    "invalid": "取值无效",
    "invalid_data": "取值无法保存",
    "same": "与当前取值相同",
    "csrf": "表单已失效，请刷新页面后重试",
}


def prefers_zh(accept_language: str | None) -> bool:
    """Whether the client's most preferred language is Chinese (zh, zh-CN, zh-Hans …)."""
    if not accept_language:
        return False
    best, best_q = "", -1.0
    for part in accept_language.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = tag.strip().lower(), q
    return best_q > 0 and (best == "zh" or best.startswith("zh-"))


def field_message(code: str, ctx: dict[str, Any] | None = None) -> str | None:
    """The Chinese message of a field error's code, or None when there is none."""
    template = FIELD_MESSAGES.get(code)
    if template is None:
        return None
    try:
        return template.format(**(ctx or {}))
    except (KeyError, IndexError):
        return template.split("{", 1)[0].rstrip("（ ") or None


def localise(
    body: dict[str, Any], *, zh_detail: str | None, zh_messages: list[str | None] | None
) -> dict[str, Any]:
    """The problem body in Chinese; the English detail kept as `detail_en`."""
    type_ = body["type"].rsplit("/", 1)[-1]
    body["title"] = TITLES.get(type_, body["title"])
    errors = body.get("errors")
    if errors:
        for index, entry in enumerate(errors):
            message = zh_messages[index] if zh_messages and index < len(zh_messages) else None
            message = message or field_message(str(entry.get("code", "")))
            if message:
                entry["message"] = message
    english = body.get("detail")
    chinese = zh_detail or DETAILS.get(type_)
    if chinese is None and errors and type_ == "validation-error":
        chinese = "；".join(f"{e['field']}：{e['message']}" for e in errors)
    if chinese:
        body["detail"] = chinese
        if english and english != chinese:
            body["detail_en"] = english
    return body
