"""Masking of personal data for every response (pure functions, no I/O)."""

import re
from collections.abc import Iterable


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


# Digits as typed: ASCII or full-width (an IME's １３９…); separators a space, an ideographic
# space or a dash (ASCII or full-width).
_D = "[0-9０-９]"
_SEP = "[ \u3000\\-－]?"
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# A number counts only where it is not part of a longer run of digits (an order number, a
# timestamp): the boundaries are digits, not letters or Chinese ("电话13955554444").
_TEXT_NUMBERS = re.compile(
    rf"(?<!{_D})(?:"
    # mainland mobiles, with a +86 / 0086 / 86 prefix, spaces or dashes between digits
    rf"(?P<mobile>(?:(?:\+|＋|00|００)?[8８][6６]{_SEP})?[1１][3-9３-９](?:{_SEP}{_D}){{9}})(?!{_D})"
    # 居民身份证号: 17 digits and a check character (X for 10), or the old 15 digits
    rf"|(?P<id18>{_D}{{17}}[0-9０-９XxＸｘ])(?!{_D})"
    rf"|(?P<id15>{_D}{{15}})(?!{_D})"
    # landlines: 0 and a 2-3 digit area code, 7-8 digits
    rf"|(?P<landline>[0０]{_D}{{2,3}}{_SEP}{_D}{{7,8}})(?!{_D})"
    ")"
)


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text.translate(_FULLWIDTH_DIGITS))


def _mask_number(match: re.Match[str]) -> str:
    kind = match.lastgroup
    raw = match.group(kind)
    if kind in ("id18", "id15"):
        value = raw.translate(_FULLWIDTH_DIGITS).upper().replace("Ｘ", "X")
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    digits = _digits(raw)
    if kind == "mobile":
        digits = digits[-11:]  # without the country code
    return mask_phone(digits)


def mask_text(text: str | None, names: Iterable[str | None] = ()) -> str | None:
    """Free text (a comment, a complaint's content) with the personal data in it masked:
    phone numbers as mask_phone (139****4444), 居民身份证号 (110***********123X), and each of
    `names` (the rater's or caller's own) as mask_name (孙*). Masking twice changes nothing."""
    if not text:
        return text
    masked = _TEXT_NUMBERS.sub(_mask_number, text)
    for name in names:
        if name and name in masked:
            masked = masked.replace(name, mask_name(name))
    return masked
