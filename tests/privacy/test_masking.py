"""Masking defaults and their invariants (SECURITY.md §2.2, R19, F6)."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.privacy.masking import mask, mask_address, mask_id_number, mask_name, mask_phone


def test_defaults():
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_id_number("110105491231002") == "110*********002"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("１３８１２３４５６７８") == "138****5678"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧阳**" and mask_name("王") == "王"
    assert mask_name("Li Lei") == "L* L**"
    assert mask_address("金山路88号金山小区3号楼2单元301室") == "金山路88号金山小区***"
    assert mask_address("金山小区") == "金山小区"
    assert mask("phone", "") == "" and mask("text", "abc") == "***"


def _batch(seed: int, make) -> list[str]:
    rng = random.Random(seed)
    return [make(rng) for _ in range(100)]


def _id(rng) -> str:
    return "".join(rng.choice("0123456789") for _ in range(17)) + rng.choice("0123456789X")


def _mobile(rng) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


# 100 examples × 100 values: the 10,000 inputs of F6 at a fraction of Hypothesis' per-example cost.
@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_id_mask_never_shows_the_birth_date(seed):
    for number in _batch(seed, _id):
        masked = mask_id_number(number)
        assert len(masked) == 18 and masked[6:14] == "********"
        assert masked[:3] == number[:3] and masked[-4:] == number[-4:]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_phone_mask_never_shows_digits_4_to_7(seed):
    for phone in _batch(seed, _mobile):
        masked = mask_phone(phone)
        assert len(masked) == 11 and masked[3:7] == "****" and masked[:3] + masked[7:] == phone[:3] + phone[7:]


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=6))
def test_name_mask_keeps_length_and_surname(name):
    masked = mask_name(name)
    assert len(masked) == len(name) and masked[0] == name[0] and masked.count("*") >= len(name) - 2
