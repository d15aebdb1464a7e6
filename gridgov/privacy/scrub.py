"""What may never enter the audit log in clear (R14, R17): passwords, tokens and secrets are
replaced, full citizen ID numbers (公民身份号码, 18 characters with a valid GB 11643 check
character) and full mainland mobile numbers are masked wherever they appear in a string.

The same functions make the payload canonical: the value stored is exactly the value
hashed, so it must survive a round trip through PostgreSQL ``jsonb`` and SQLite text alike
(no NUL characters, no lone surrogates, no NaN, string keys only)."""

from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid

REDACTED = "[已屏蔽]"

# Keys whose values are secrets whatever they look like.
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|pwd|secret|token|api[_-]?key|authorization|cookie|session|csrf|otp|totp|private[_-]?key|credential)",
    re.IGNORECASE,
)
# Bearer tokens that gridgov issues, and generic "Bearer xxx" headers that slipped into a string.
_TOKEN = re.compile(r"\bggv_[A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._~+/\-]{8,}=*", re.IGNORECASE)
_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?|0086[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_checksum_ok(number: str) -> bool:
    """GB 11643 (ISO 7064 MOD 11-2) check character of an 18-character ID number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    return _CHECK[total % 11] == number[17].upper()


def mask_id(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def _mask_ids(match: re.Match) -> str:
    number = match.group(1)
    return mask_id(number) if id_checksum_ok(number) else number


def _mask_mobile(match: re.Match) -> str:
    return f"{match.group(1)}****{match.group(3)}"


def scrub_text(text: str) -> str:
    """Mask ID numbers and mobile numbers, blank tokens; make the text storable."""
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    text = _TOKEN.sub(REDACTED, text)
    text = _ID_CANDIDATE.sub(_mask_ids, text)
    return _MOBILE.sub(_mask_mobile, text)


def scrub(value, *, _depth: int = 0):
    """A JSON-safe, secret-free, masked copy of ``value`` (dicts, lists, scalars)."""
    if _depth > 20:
        return "[…]"
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = scrub_text(str(key))
            out[key] = REDACTED if _SECRET_KEY.search(key) and item not in (None, "") else scrub(item, _depth=_depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [scrub(item, _depth=_depth + 1) for item in items]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # A bare 11-digit number may be a phone number: mask it as text.
        return scrub_text(str(value)) if _MOBILE.fullmatch(str(value)) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        # jsonb gives 1e20 back as an integer and 1.0 as 1.0: hash integral floats as ints.
        return int(value) if value.is_integer() else value
    if isinstance(value, decimal.Decimal):
        return scrub(float(value), _depth=_depth) if value.is_finite() else str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return scrub_text(str(value))
