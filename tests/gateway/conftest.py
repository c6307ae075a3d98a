"""Fixtures for the service-layer tests: a gateway on a clock the test moves, a second account, row counts."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from smsgw.accounts import Accounts
from smsgw.domain.model import Account
from smsgw.gateway import Gateway
from smsgw.store.database import Store
from smsgw.store.tables import messages


class Clock:
    """Epoch milliseconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, *, hours: float = 0, ms: int = 0) -> None:
        self.now += int(hours * 3_600_000) + ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked(store: Store, gateway: Gateway, clock: Clock) -> Gateway:
    """A gateway whose notion of now is `clock` (ids still come from the fixture gateway's leased node)."""
    return Gateway(store, gateway.ids, clock=clock)


@pytest.fixture
def other(accounts: Accounts) -> Account:
    """A second customer, to prove that what one account does never touches another."""
    return accounts.create("globex", "hunter2", default_country="NO")


@pytest.fixture
def count(store: Store) -> Callable[..., int]:
    """`count()` / `count(account)`: how many MT rows the store holds (for that account)."""

    def count_messages(account: Account | None = None) -> int:
        query = select(func.count()).select_from(messages)
        if account is not None:
            query = query.where(messages.c.account_id == account.id)
        with store.read() as conn:
            return int(conn.execute(query).scalar_one())

    return count_messages
