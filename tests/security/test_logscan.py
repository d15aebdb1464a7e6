"""The log scan's own detector: real numbers are found, look-alikes are not."""

import logging

from tests.logscan import ScanHandler, find_personal_numbers, is_id_number


def test_id_checksum():
    assert is_id_number("11010519491231002X") and is_id_number("110105194912310029") is False


def test_finds_full_numbers_only():
    text = "id 11010519491231002X phone 13812345678 masked 110105********002X 138****5678 order 2026112512345678901"
    assert find_personal_numbers(text) == [("id_number", "11010519491231002X"), ("mobile", "13812345678")]
    assert find_personal_numbers("case 350502-20261125-00001 grid 350502001001001 ts 1732500000123") == []


def test_handler_counts_and_records_hits():
    handler = ScanHandler()
    logger = logging.getLogger("gridgov.test.logscan")
    logger.addHandler(handler)
    logger.propagate = False  # the suite's own scan must not see this deliberate number
    try:
        logger.warning("reporter %s called", "13812345678")
        logger.warning("nothing personal")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert handler.scanned == 2 and [h[2:] for h in handler.hits] == [("mobile", "138****5678")]
