"""GB 11643 ID numbers and mainland phones (R18, F6)."""

import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from gridgov.privacy.validators import (
    InvalidIdentifier,
    id_check_char,
    id_number_problem,
    normalize_id_number,
    normalize_phone,
)


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014", "360426199101010071", "11010519491231002x"])
def test_valid_id_vectors(number):
    assert id_number_problem(number) is None
    assert normalize_id_number(number) == number.upper()


@pytest.mark.parametrize("number, reason", [
    ("110105194912310021", "校验位"),         # wrong check digit
    ("110105194902300028", "出生日期"),       # 30 February
    ("11010519491231002", "18位"),
    ("1101051949123100XX", "18位"),
    ("", "18位"),
    ("110105 1949 1231 002X", "18位"),
])
def test_invalid_id_vectors(number, reason):
    problem = id_number_problem(number)
    assert problem is not None and reason in problem[0]
    with pytest.raises(InvalidIdentifier):
        normalize_id_number(number)


def test_full_width_and_legacy_15_digit_ids():
    assert normalize_id_number("１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"
    legacy = "110105491231002"  # 15 digits, born 1949-12-31
    upgraded = normalize_id_number(legacy)
    assert len(upgraded) == 18 and upgraded.startswith("11010519491231002") and ric.is_valid(upgraded)
    assert id_number_problem("110105491331002") is not None  # month 13
    future = f"110105{date.today().year + 1}0101002"
    future += id_check_char(future)
    assert id_number_problem(future) is None
    assert "晚于今天" in id_number_problem(future, today=date.today())[0]


def _stdnum_structural(number: str) -> bool:
    """python-stdnum's validation without its (optional here) birth-place table lookup."""
    import stdnum.cn.ric as m

    real = m.get_birth_place
    m.get_birth_place = lambda n: {}
    try:
        return m.is_valid(number)
    finally:
        m.get_birth_place = real


def _near_ids(rng: random.Random, n: int) -> list[str]:
    """Mostly well-formed numbers with plausible dates, half with the right check character,
    some with broken dates, lengths and characters: where disagreements would hide."""
    out = []
    for _ in range(n):
        first17 = "".join(rng.choice("0123456789") for _ in range(6))
        first17 += f"{rng.randint(1890, 2030):04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        first17 += "".join(rng.choice("0123456789") for _ in range(3))
        check = id_check_char(first17) if rng.random() < 0.5 else rng.choice("0123456789X")
        number = first17 + check
        roll = rng.random()
        if roll < 0.03:
            number = number[:-1]
        elif roll < 0.06:
            number = number[:5] + rng.choice("AX ") + number[6:]
        out.append(number)
    return out


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=2**32))
def test_id_validation_agrees_with_stdnum_on_100000_inputs(seed):
    """F6: 100 examples × 1,000 inputs = 100,000 comparisons with python-stdnum; 0 disagreements."""
    rng = random.Random(seed)
    for number in _near_ids(rng, 1000):
        ours = id_number_problem(number) is None and len(number) == 18
        assert ours == _stdnum_structural(number), number
        if len(number) == 18 and number[:17].isdigit():
            assert id_check_char(number[:17]) == ric.calc_check_digit(number)


@given(st.text(alphabet="0123456789X", min_size=17, max_size=17))
def test_check_char_matches_the_stdnum_one_liner(first17):
    if first17[:17].isdigit():
        assert id_check_char(first17) == ric.calc_check_digit(first17 + "0")


@pytest.mark.parametrize("phone, normal", [
    ("13812345678", "13812345678"), ("19912345678", "19912345678"), ("16212345678", "16212345678"),
    ("17012345678", "17012345678"), ("+86 138 1234 5678", "13812345678"), ("0086-13812345678", "13812345678"),
    ("１３８１２３４５６７８", "13812345678"), ("0595-22345678", "059522345678"), ("", ""),
])
def test_valid_phones(phone, normal):
    assert normalize_phone(phone) == normal


@pytest.mark.parametrize("phone", ["14012345678", "12012345678", "1381234567", "1064812345678", "abc", "+1 202 555 0100",
                                   "138123456789"])
def test_invalid_phones(phone):
    with pytest.raises(InvalidIdentifier):
        normalize_phone(phone)


def test_mobile_only():
    with pytest.raises(InvalidIdentifier, match="mobile"):
        normalize_phone("0595-22345678", mobile_only=True)
