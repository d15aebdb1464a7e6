"""Checking and normalising personal identifiers: the citizen ID number (公民身份号码,
GB 11643-1999) and mainland phone numbers.

Every value is NFKC-normalised first, so full-width digits typed on a Chinese keyboard
("１３８…") and ideographic spaces mean the same as their ASCII forms. The normalised form
is what is stored, masked and blind-indexed, so "+86 138-1234-5678" and "13812345678"
find the same person.
"""

import re
import unicodedata
from datetime import date

import phonenumbers

WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
CHECK_CHARS = "10X98765432"  # indexed by S mod 11
_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID15 = re.compile(r"^\d{15}$")
_SEPARATORS = re.compile(r"[\s\-()（）.]")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


class InvalidIdentifier(ValueError):
    """The value is not a well-formed identifier; `.message_zh` / `.message_en` say why."""

    def __init__(self, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.message_zh, self.message_en = message_zh, message_en


def nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


# --- ID number ---------------------------------------------------------------------------


def id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def _birth_date(text: str) -> date | None:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def upgrade_id15(number: str) -> str:
    """A legacy 15-digit number as its 18-digit form: century 19 inserted, check added."""
    first17 = number[:6] + "19" + number[6:]
    return first17 + id_check_char(first17)


def id_number_problem(value: str, *, today: date | None = None) -> tuple[str, str] | None:
    """Why `value` is not a valid ID number (zh, en), or None if it is. 15-digit legacy
    numbers are valid when their 6-digit birth date is (in the 1900s)."""
    number = nfkc(value).upper()
    if _ID15.match(number):
        number = upgrade_id15(number)
    elif not _ID18.match(number):
        return "身份证号码应为18位（或旧版15位）数字，末位可为X", "An ID number has 18 characters (or 15 legacy digits)"
    born = _birth_date(number[6:14])
    if born is None:
        return "身份证号码中的出生日期无效", "The birth date inside the ID number is invalid"
    if today is not None and born > today:
        return "身份证号码中的出生日期晚于今天", "The birth date inside the ID number is in the future"
    if number[17] != id_check_char(number[:17]):
        return "身份证号码校验位错误", "The ID number's check character is wrong"
    return None


def normalize_id_number(value: str) -> str:
    """The canonical 18-character form of a valid ID number; raises InvalidIdentifier."""
    problem = id_number_problem(value, today=date.today())
    if problem:
        raise InvalidIdentifier(*problem)
    number = nfkc(value).upper()
    return upgrade_id15(number) if len(number) == 15 else number


# --- phone -------------------------------------------------------------------------------


def _digits(value: str) -> str:
    text = _SEPARATORS.sub("", nfkc(value))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    return text


def normalize_phone(value: str, *, mobile_only: bool = False) -> str:
    """A mainland number in national form ("13812345678", "059522345678"), checked with
    `phonenumbers`' metadata for CN; raises InvalidIdentifier. Empty stays empty."""
    text = _digits(value)
    if not text:
        return ""
    if not text.isdigit() or len(text) > 12:
        raise InvalidIdentifier("电话号码格式无效", "Not a phone number")
    # The common case (an 11-digit mobile) is decided by phonenumbers too: the segment
    # list (e.g. 140 and 120 are not issued) changes, its metadata follows it.
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier("电话号码格式无效", "Not a phone number") from None
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentifier("不是有效的中国大陆电话号码", "Not a valid mainland China phone number")
    kind = phonenumbers.number_type(parsed)
    mobile = kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if mobile_only and not mobile:
        raise InvalidIdentifier("请填写有效的手机号码", "A mobile number is required")
    national = str(parsed.national_number)
    return national if mobile else "0" + national
