"""Log scan (R17, F14): every log record emitted during the whole suite is scanned for full
ID numbers (18 characters with a valid GB 11643 check digit) and full mainland mobile numbers;
any hit fails the run. The count of records scanned is reported at the end.

The scanner is a handler on the root logger at INFO (the suite's other handlers keep their
level, so what is printed does not change). Records of loggers that do not propagate to the
root are not seen; gridgov's loggers all propagate.
"""

import logging
import re

import pytest

ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<![0-9])(1[3-9]\d{9})(?![0-9])")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def is_id_number(text: str) -> bool:
    """GB 11643: the 18th character is the weighted checksum of the first 17 digits."""
    return CHECK[sum(int(d) * w for d, w in zip(text[:17], WEIGHTS, strict=True)) % 11] == text[17].upper()


def find_personal_numbers(text: str) -> list[tuple[str, str]]:
    hits = [("id_number", m) for m in ID_RE.findall(text) if is_id_number(m)]
    hits += [("mobile", m) for m in MOBILE_RE.findall(text)]
    return hits


class ScanHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.scanned = 0
        self.hits: list[tuple[str, str, str, str]] = []
        self.test = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: scan its raw parts
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        self.scanned += 1
        for kind, value in find_personal_numbers(text):
            masked = value[:3] + "*" * (len(value) - 7) + value[-4:]
            self.hits.append((self.test, record.name, kind, masked))


_handler = ScanHandler()
_saved: dict = {}


def _attach() -> None:
    root = logging.getLogger()
    if _handler in root.handlers:
        return
    previous = root.getEffectiveLevel()
    for handler in root.handlers:  # what was printed stays what is printed
        if handler.level == logging.NOTSET:
            handler.setLevel(previous)
    _saved.setdefault("level", root.level)
    root.addHandler(_handler)
    root.setLevel(min(previous, logging.INFO))


def pytest_sessionstart(session):
    _attach()


def pytest_runtest_setup(item):
    _attach()  # a test that reconfigured logging must not blind the scan
    _handler.test = item.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    if _handler.hits and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    hits = _handler.hits
    terminalreporter.write_line(
        f"log scan (R17/F14): {_handler.scanned} log records scanned, {len(hits)} full ID or mobile numbers found"
    )
    for test, logger, kind, masked in hits[:20]:
        terminalreporter.write_line(f"  {kind} {masked} in logger {logger!r} during {test}", red=True)
