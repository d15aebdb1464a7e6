"""Who and where, normalised: the one place that decides when two cases share a reporter
or an address (重复诉求).

The reporter's phone is an encrypted field; `reporter_key` takes its blind index, so
phones are compared without being decrypted. Keys leave this module only as `blind()` digests, so a warning's subject
never stores a phone number or an address in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from django.conf import settings

_PUNCT = re.compile(r"[\s\-_,，。.、;；:：()（）\[\]【】#＃/\\|'\"“”‘’`·~!！?？]+")
_PHONE_PREFIX = re.compile(r"^(?:\+?86|0086)(?=1\d{10}$)")


def normalise_text(value: str) -> str:
    """Full-width → half-width (NFKC), lower case, punctuation and spaces removed."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", value or "").lower())


def address_key(address: str, *, min_length: int = 6) -> str | None:
    """The comparable form of an address, or None when it is too short to name one place
    ("金山社区" alone names a whole community, not a doorstep)."""
    key = normalise_text(address)
    return key if len(key) >= min_length else None


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    return _PHONE_PREFIX.sub("", digits)


def reporter_key(*, user_id: int | None, phone: str = "", phone_index: str = "") -> str | None:
    """The identity of a case's reporter: the phone number when there is one (a resident
    calling the hotline and using the app is one person), else the signed-in account.

    Stored phones are encrypted: cases give their phone's blind index (`phone_index`,
    a keyed hash of the normalised number), which names the same person as the number."""
    if phone_index:
        return f"tel:{phone_index}"
    digits = normalise_phone(phone)
    if len(digits) >= 7:
        return f"tel:{digits}"
    if user_id:
        return f"user:{user_id}"
    return None


def blind(key: str) -> str:
    """A keyed digest of a normalised key (HMAC-SHA256 with the site's secret, 24 hex)."""
    secret = settings.SECRET_KEY.encode()
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()[:24]
