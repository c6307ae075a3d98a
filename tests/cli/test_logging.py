"""The commands' log lines: logging's own text, made cheaply enough for a line per request."""

from __future__ import annotations

import logging
import random
import re
import sys

from smsgw.cli import LOG_FORMAT, _LogFormatter


def test_the_format_names_nothing_the_serving_commands_stop_recording() -> None:
    """`_serving_logs` turns off the caller lookup and the thread and process fields: a format that showed them
    would print placeholders."""
    fields = set(re.findall(r"%\((\w+)\)", LOG_FORMAT))
    assert fields == {"asctime", "levelname", "name", "message"}


def test_lines_are_the_ones_loggings_own_formatter_makes() -> None:
    plain, ours = logging.Formatter(LOG_FORMAT), _LogFormatter(LOG_FORMAT)
    record = logging.LogRecord("smsgw.gateway", logging.INFO, __file__, 1, "submit %s", ("x",), None)
    rng = random.Random(7)
    moments = [1_700_000_000 + i * 0.0137 for i in range(3000)]  # many lines within each second, then the next
    moments += [rng.uniform(0, 4_000_000_000) for _ in range(3000)]
    for moment in moments:
        record.created, record.msecs = moment, int((moment - int(moment)) * 1000) + 0.0
        assert ours.format(record) == plain.format(record)
    assert ours.formatTime(record, "%H:%M") == plain.formatTime(record, "%H:%M")
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("smsgw", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert ours.format(failed) == plain.format(failed)
