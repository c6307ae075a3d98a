"""The running parts wired together for one process: store, id lease, gateway, authentication, accounts."""

from __future__ import annotations

from dataclasses import dataclass

from .accounts import Accounts
from .auth import Authenticator
from .gateway import Gateway
from .store.database import Store
from .store.ids import NodeLease

SHUTDOWN_GRACE_MS = 10_000


@dataclass
class Services:
    store: Store
    lease: NodeLease
    gateway: Gateway
    auth: Authenticator
    accounts: Accounts

    @classmethod
    def open(cls, database_url: str, *, migrate: bool = True) -> Services:
        """Connect, migrate the schema if it is behind (safe when several processes start at once), lease an id
        node."""
        store = Store(database_url)
        if migrate and store.needs_migration():
            store.migrate()
        lease = NodeLease(store)
        auth = Authenticator(store)
        return cls(store, lease, Gateway(store, lease.start()), auth, Accounts(store, changed=auth.forget))

    def close(self) -> None:
        # Requests still running while a server stops finish with ids from this node for a few more seconds.
        self.lease.release(grace_ms=SHUTDOWN_GRACE_MS)
        self.gateway.close()
        self.store.dispose()
