"""Canary leak scanning (R8/F3).

Unique canaries (a token in a reporter's name, description and address, and a unique phone)
are seeded into the matrix objects. `LeakScanner` records every response produced through
Django's test client while it is active, and every log record, and checks them against
the canaries the acting role must not see. A hit is a leak whatever the status code.
"""

import logging
import secrets
from dataclasses import dataclass, field

from django.test import Client


@dataclass(frozen=True)
class Canary:
    """The unique strings planted in one object."""

    token: str   # in the reporter's name, the description and the address
    phone: str   # the reporter's full phone number

    @classmethod
    def make(cls) -> "Canary":
        token = "CNRY" + secrets.token_hex(5).upper()
        phone = "139" + "".join(secrets.choice("0123456789") for _ in range(8))
        return cls(token=token, phone=phone)

    @property
    def needles(self) -> tuple[str, ...]:
        # The masked phone is a leak too when the whole object is out of scope.
        masked = self.phone[:3] + "****" + self.phone[-4:]
        return (self.token, self.phone, masked)


@dataclass
class Hit:
    where: str
    actor: str
    canary_of: str
    needle: str


class _ListHandler(logging.Handler):
    def __init__(self, sink: list):
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record):
        try:
            self.sink.append(record.getMessage() + ("\n" + self.format(record) if record.exc_info else ""))
        except (TypeError, ValueError):  # badly formatted arguments must not hide the record
            self.sink.append(f"{record.msg!r} {record.args!r}")


@dataclass
class LeakScanner:
    """Scan responses (as one actor at a time) and log lines for canaries.

    `forbidden` maps an actor name to the {object: Canary} it must never receive; log lines
    must contain no canary at all (R17: technical logs hold no personal data).
    """

    canaries: dict
    forbidden: dict = field(default_factory=dict)
    actor: str | None = None
    responses_scanned: int = 0
    log_lines: list = field(default_factory=list)
    hits: list = field(default_factory=list)

    def scan_response(self, response, where: str) -> None:
        if self.actor is None:
            return
        parts = [response.content.decode("utf-8", "replace") if not getattr(response, "streaming", False) else ""]
        parts += [f"{k}: {v}" for k, v in response.items()]
        self.scan_text("\n".join(parts), where, self.actor, self.forbidden.get(self.actor, {}))

    def scan_text(self, text: str, where: str, actor: str, forbidden: dict) -> None:
        """Scan one response (body and headers as text) for the canaries `actor` must not see."""
        self.responses_scanned += 1
        for obj, canary in forbidden.items():
            for needle in canary.needles:
                if needle in text:
                    self.hits.append(Hit(where=where, actor=actor, canary_of=obj, needle=needle))

    def scan_logs(self) -> int:
        for line in self.log_lines:
            for obj, canary in self.canaries.items():
                for needle in canary.needles:
                    if needle in line:
                        self.hits.append(Hit(where="log", actor="-", canary_of=obj, needle=needle))
        return len(self.log_lines)

    def install(self, monkeypatch) -> None:
        """Record every test-client response and every log record from now on."""
        scanner = self
        original = Client.request

        def request(client, **request):
            response = original(client, **request)
            scanner.scan_response(response, f"{request.get('REQUEST_METHOD')} {request.get('PATH_INFO')}")
            return response

        monkeypatch.setattr(Client, "request", request)
        handler = _ListHandler(self.log_lines)
        root = logging.getLogger()
        root.addHandler(handler)
        old_level = root.level
        root.setLevel(logging.DEBUG)

        def remove():
            root.removeHandler(handler)
            root.setLevel(old_level)

        monkeypatch.setattr(self, "_remove", remove, raising=False)

    def uninstall(self) -> None:
        remove = getattr(self, "_remove", None)
        if remove is not None:
            remove()
