"""Masking of personal data for every response (pure functions, no I/O)."""


def mask_phone(phone: str | None) -> str | None:
    """13812345678 -> 138****5678; landlines keep the area code and the last four digits."""
    if not phone:
        return phone
    digits = phone.replace("-", "")
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; a company keeps its first two characters."""
    if not name:
        return name
    if len(name) <= 1:
        return "*"
    keep = 1 if len(name) <= 4 else 2
    return name[:keep] + "*" * (len(name) - keep)
