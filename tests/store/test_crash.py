"""Crash safety of submit: what `submit` returned is committed, and a request is stored whole or not at all, whatever
moment the process is killed at (SIGKILL: no cleanup, no atexit, no rollback by the process itself)."""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from smsgw.domain.model import Account, MessageSpec, Status, SubmitRequest
from smsgw.services import Services
from smsgw.store.database import Store
from smsgw.store.tables import batches, messages

if TYPE_CHECKING:
    from conftest import Children  # tests/store/conftest.py

pytestmark = pytest.mark.slow

_OPEN = """
import json, sys, time
from smsgw.domain.model import MessageSpec, SubmitRequest
from smsgw.services import Services

services = Services.open(sys.argv[1])
account = services.accounts.get("acme")


def request(count, tag):
    return SubmitRequest([MessageSpec(recipient=f"+4741{i:06d}", text=f"{tag} {i}") for i in range(count)])


result = services.gateway.submit(account, request(1000, "crash test"))
print(json.dumps([o.message_id for o in result.outcomes]), flush=True)
"""

# Accepts 1,000 messages, says which, and idles until killed.
_ACCEPT_THEN_IDLE = _OPEN + """
time.sleep(600)
"""

# Accepts 1,000 messages, says which, then submits 10,000-message requests until killed.
_ACCEPT_THEN_SUBMIT_FOREVER = _OPEN + """
n = 0
while True:
    services.gateway.submit(account, request(10_000, f"loop {n}"))
    n += 1
"""

# Accepts 1,000 messages, says which, then stops the next request inside its transaction, after every row of it
# was written but before COMMIT, and says which rows those were.
_ACCEPT_THEN_STALL_BEFORE_COMMIT = _OPEN + """
from smsgw.store import repository

write_rows = repository.insert_submission


def write_rows_then_stall(conn, batches, rows, keys):
    write_rows(conn, batches, rows, keys)
    ids = [row[0] for row in rows]
    print(json.dumps({"batch": batches[0][0], "ids": ids}), flush=True)
    time.sleep(600)


repository.insert_submission = write_rows_then_stall
services.gateway.submit(account, request(5000, "never committed"))
"""


def _accepted_ids(line: str) -> list[int]:
    ids = json.loads(line)
    assert len(ids) == 1000 and None not in ids, "the child's first request was not accepted whole"
    return [int(i) for i in ids]


def _assert_first_request_survived(url: str, ids: list[int], account: Account) -> None:
    """Opens the database afresh and finds every accepted message as it was accepted."""
    store = Store(url)
    try:
        with store.read() as conn:
            rows = {r.id: r for r in conn.execute(
                select(messages.c.id, messages.c.account_id, messages.c.status, messages.c.recipient,
                       messages.c.text).where(messages.c.id.in_(ids)))}
    finally:
        store.dispose()
    missing = [i for i in ids if i not in rows]
    assert not missing, f"{len(missing)} accepted messages lost, e.g. {missing[:3]}"
    for index, ident in enumerate(ids):
        row = rows[ident]
        assert (row.account_id, row.status, row.recipient, row.text) == (
            account.id, Status.ACCEPTED.value, f"+4741{index:06d}", f"crash test {index}"
        ), ident


def _assert_every_batch_whole(url: str) -> dict[int, int]:
    """Every batch row has exactly `size` messages, and no message lacks its batch row. Returns sizes by batch."""
    store = Store(url)
    try:
        with store.read() as conn:
            sizes = {r.id: r.size for r in conn.execute(select(batches.c.id, batches.c.size))}
            counts = {r.batch_id: r.n for r in conn.execute(
                select(messages.c.batch_id, func.count().label("n")).group_by(messages.c.batch_id))}
    finally:
        store.dispose()
    assert {b: counts.get(b, 0) for b in sizes} == sizes, "a batch is stored in part"
    orphans = set(counts) - set(sizes)
    assert not orphans, f"messages of batches that were never stored: {orphans}"
    return sizes


def test_a_process_killed_right_after_submit_returned_loses_nothing_it_accepted(
    database_url: str, account: Account, children: Children
) -> None:
    child = children.start(_ACCEPT_THEN_IDLE, database_url)
    line = child.line(timeout=60)
    child.kill()  # at once: no chance to flush, close or roll back anything
    ids = _accepted_ids(line)
    _assert_first_request_survived(database_url, ids, account)
    assert list(_assert_every_batch_whole(database_url).values()) == [1000]


def test_a_process_killed_while_submitting_leaves_no_partial_batch(
    database_url: str, account: Account, children: Children
) -> None:
    child = children.start(_ACCEPT_THEN_SUBMIT_FOREVER, database_url)
    ids = _accepted_ids(child.line(timeout=60))
    time.sleep(random.uniform(0.3, 2.0))  # somewhere inside one of the 10,000-message requests
    child.kill()
    _assert_first_request_survived(database_url, ids, account)
    sizes = _assert_every_batch_whole(database_url)
    assert sorted(set(sizes.values()) - {1000}) in ([], [10_000])


def test_a_process_killed_inside_the_submit_transaction_stores_none_of_that_request(
    database_url: str, account: Account, children: Children
) -> None:
    child = children.start(_ACCEPT_THEN_STALL_BEFORE_COMMIT, database_url)
    ids = _accepted_ids(child.line(timeout=60))
    written = json.loads(child.line(timeout=60))  # every row of the second request is written, not committed
    child.kill()
    assert len(written["ids"]) == 5000

    _assert_first_request_survived(database_url, ids, account)
    assert list(_assert_every_batch_whole(database_url).values()) == [1000]
    store = Store(database_url)
    try:
        with store.read() as conn:
            assert conn.execute(select(func.count()).where(batches.c.id == written["batch"])).scalar_one() == 0
            assert conn.execute(
                select(func.count()).where(messages.c.id.in_(written["ids"][:500]))).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1000
    finally:
        store.dispose()

    # The database the dead process left behind serves the next one: it opens, leases a node and accepts.
    services = Services.open(database_url)
    try:
        result = services.gateway.submit(
            account, SubmitRequest([MessageSpec(recipient="+4741999999", text="after the crash")]))
        assert result.outcomes[0].accepted
    finally:
        services.close()
