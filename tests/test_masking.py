"""Masking of personal data (pure functions, no database)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.masking import mask_name, mask_phone

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
