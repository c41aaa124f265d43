"""Masking of personal data (pure functions, no database)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.privacy.masking import mask_name, mask_phone, mask_text

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("19900000001", "199****0001"),
        ("0730-8123456", "073****3456"),
        ("010-12345678", "010****5678"),
        ("07308123456", "073****3456"),
    ],
)
def test_mask_phone_examples(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_phone_passes_absence_through(empty):
    assert mask_phone(empty) == empty


@pytest.mark.parametrize("short", ["1", "1234", "1234567"])
def test_mask_phone_hides_short_numbers_entirely(short):
    assert mask_phone(short) == "*" * len(short)


@given(mobiles)
def test_mask_phone_never_shows_the_middle_digits_of_a_mobile(phone):
    masked = mask_phone(phone)
    assert masked is not None and len(masked) == 11
    # The middle four positions are masked, whatever the digits are.
    assert masked[3:7] == "****"
    assert masked[:3] == phone[:3] and masked[7:] == phone[7:]
    assert phone not in masked
    # At most the seven shown digits survive.
    assert sum(ch.isdigit() for ch in masked) == 7


@given(mobiles)
def test_mask_phone_is_stable_under_remasking(phone):
    once = mask_phone(phone)
    assert mask_phone(once) == once


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("李", "*"),
        ("王小明", "王**"),
        ("欧阳娜娜", "欧***"),
        ("岳阳市某某科技有限公司", "岳阳*********"),
    ],
)
def test_mask_name_examples(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_name_passes_absence_through(empty):
    assert mask_name(empty) == empty


@given(st.text(min_size=1, max_size=100))
def test_mask_name_keeps_length_and_shows_at_most_two_characters(name):
    masked = mask_name(name)
    assert len(masked) == len(name)
    keep = 0 if len(name) == 1 else 1 if len(name) <= 4 else 2
    assert masked[:keep] == name[:keep]
    assert masked[keep:] == "*" * (len(name) - keep)


# --- free text: comments, work-order summaries, complaint contents --------------------------

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# Filler around the numbers: Chinese, ASCII letters, punctuation, spaces, dashes, "+", "X",
# but no digit (a number inside a longer run of digits is not one: see below).
filler_chars = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.sampled_from("abcxyzXQ +-:,.!?()，。：！？（）－＊*\u3000\n"),
)
fillers = st.text(filler_chars, max_size=12)
# Anything at all, digits included (for idempotence).
anything = st.text(
    st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("０１２３４５６７８９Ｘ＋－\u3000"),
    ),
    max_size=60,
)


@st.composite
def mobiles_as_typed(draw):
    """(digits, as written): 13955554444 as +86 139-5555-4444, 139 5555 4444, in full width…"""
    digits = draw(mobiles)
    sep = draw(st.sampled_from(["", " ", "-", "\u3000", "－"]))
    written = sep.join([digits[:3], digits[3:7], digits[7:]])
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86", "86-", "0086", "＋86 "]))
    written = prefix + written
    if draw(st.booleans()):
        written = written.translate(FULLWIDTH)
    return digits, written, f"{digits[:3]}****{digits[7:]}"


@st.composite
def landlines_as_typed(draw):
    area = draw(st.sampled_from(["010", "021", "0731", "0755", "0898"]))
    local = draw(st.from_regex(r"[2-8][0-9]{6,7}", fullmatch=True))
    sep = draw(st.sampled_from(["", "-", " "]))
    digits = area + local
    return digits, area + sep + local, mask_phone(digits)


@st.composite
def id_numbers(draw):
    """18-character 居民身份证号 (a check character, X for 10) and the old 15-digit ones."""
    region = draw(st.from_regex(r"[1-6][0-9]{5}", fullmatch=True))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    serial = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    if draw(st.booleans()):
        body = region + born.strftime("%Y%m%d") + serial
        weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
        number = body + draw(st.sampled_from([check, check.lower()]))
    else:
        number = region + born.strftime("%y%m%d") + serial
    return number, number, number[:3].upper() + "*" * (len(number) - 7) + number[-4:].upper()


personal_numbers = st.one_of(mobiles_as_typed(), landlines_as_typed(), id_numbers())


def _joined(pieces, tail: str, which: int) -> str:
    """Filler and numbers in turn; a number follows non-empty filler (two numbers with nothing
    between them are one longer run of digits, which is no phone), and a "+" before a number
    written "86 139…" becomes part of it, so that filler gets a space."""
    out = []
    for i, (filler, number) in enumerate(pieces):
        if i and not filler:
            filler = "，"
        if filler.endswith(("+", "＋")) and number[1].startswith("86"):
            filler += " "
        out.append(filler + number[which])
    return "".join(out) + tail


def _ascii_digits(text: str) -> str:
    return "".join(
        ch
        for ch in text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        if ch.isdigit()
    )


@given(st.lists(st.tuples(fillers, personal_numbers), min_size=1, max_size=4), fillers)
def test_numbers_anywhere_in_text_are_masked_and_the_rest_is_unchanged(pieces, tail):
    text, expected = _joined(pieces, tail, 1), _joined(pieces, tail, 2)
    masked = mask_text(text)
    # Exactly the matches change, each to its mask; the filler around them is as it was.
    assert masked == expected
    for _, (digits, written, _) in pieces:
        assert written not in masked
        # The middle digits are gone: the whole number is not in the digits that remain.
        assert digits.upper()[:-1] not in _ascii_digits(masked).upper()


@given(anything, st.lists(st.tuples(fillers, personal_numbers), max_size=3))
def test_mask_text_is_idempotent(text, pieces):
    text += _joined(pieces, "", 1)
    once = mask_text(text)
    assert mask_text(once) == once


chinese_names = st.text(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=6
)


@given(st.lists(fillers, min_size=1, max_size=5), chinese_names, personal_numbers)
def test_the_raters_own_name_never_appears_whole(fillers_, name, number):
    text = name.join(fillers_) + name + number[1]
    masked = mask_text(text, [name])
    assert name not in masked
    assert mask_name(name) in masked
    assert number[1] not in masked
    assert mask_text(masked, [name]) == masked


@given(anything)
def test_text_without_a_name_or_a_number_stays_as_it_is(text):
    plain = "".join(ch for ch in text if not ch.isdigit() and ch not in "０１２３４５６７８９")
    assert mask_text(plain) == plain
    assert mask_text(plain, [None, ""]) == plain


@pytest.mark.parametrize(
    ("text", "names", "masked"),
    [
        ("请回电13955554444 我叫孙七", ["孙七"], "请回电139****4444 我叫孙*"),
        ("电话+86 139-5555-4444，谢谢", [], "电话139****4444，谢谢"),
        ("座机0731-12345678或010 12345678", [], "座机073*****5678或010****5678"),
        ("身份证43010219900307123X", [], "身份证430***********123X"),
        ("老身份证430102900307123。", [], "老身份证430********7123。"),
        ("全角１３９５５５５４４４４", [], "全角139****4444"),
        ("欧阳娜娜说：我是欧阳娜娜", ["欧阳娜娜"], "欧***说：我是欧***"),
        # a longer run of digits (an order number) is not a phone; dates and amounts stay
        ("办件号2026100913955554444", [], "办件号2026100913955554444"),
        ("2026-10-09 09:30 排队100分钟", [], "2026-10-09 09:30 排队100分钟"),
    ],
)
def test_mask_text_examples(text, names, masked):
    assert mask_text(text, names) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_text_passes_absence_through(empty):
    assert mask_text(empty, ["孙七"]) == empty
