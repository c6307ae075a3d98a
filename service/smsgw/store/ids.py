"""64-bit ids, time-ordered and unique across processes, allocated in-process without a database round trip.

Layout (63 bits, always positive): 41 bits of milliseconds since 2024-01-01 UTC (to 2093), 10 bits of node,
12 bits of sequence (4,096 ids per millisecond per node). A burst larger than that borrows the next milliseconds:
the clock only ever moves forward, so ids stay unique and ordered.

The node comes from a lease row in the database: a process takes a free or expired node, renews its lease in the
background, and stops allocating if it cannot renew before the lease runs out, so two live processes never share a
node. A node left behind by a killed process is reused only after its lease expired, by which time the clock has
passed every id the dead process could have made.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .database import Store
from .tables import node_leases

log = logging.getLogger(__name__)

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NODE_BITS = 10
SEQ_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
SEQ_PER_MS = 1 << SEQ_BITS
LEASE_MS = 5 * 60 * 1000
RENEW_EVERY_S = 30.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def id_time_ms(ident: int) -> int:
    """The millisecond (epoch) an id was allocated in."""
    return (ident >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS


class LeaseLost(RuntimeError):
    """This process no longer holds its node lease; allocating would risk duplicate ids."""


class IdAllocator:
    """Allocates ids for one node; thread-safe. `valid_until` says until when the node's lease holds."""

    def __init__(self, node: int, valid_until: Callable[[], int], clock: Callable[[], int] = now_ms) -> None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be 0..{MAX_NODE}")
        self.node = node
        self._valid_until = valid_until
        self._clock = clock
        self._lock = threading.Lock()
        self._ms = 0
        self._seq = 0

    def allocate(self, n: int) -> list[int]:
        """`n` fresh ids in increasing order."""
        with self._lock:
            now = self._clock()
            if now >= self._valid_until():
                raise LeaseLost(f"id node {self.node}: lease expired; refusing to allocate")
            if now > self._ms:
                self._ms, self._seq = now, 0
            ids: list[int] = []
            node_bits = self.node << SEQ_BITS
            while len(ids) < n:
                take = min(n - len(ids), SEQ_PER_MS - self._seq)
                if take == 0:
                    self._ms, self._seq = self._ms + 1, 0
                    continue
                base = ((self._ms - EPOCH_MS) << (NODE_BITS + SEQ_BITS)) | node_bits
                ids.extend(range(base + self._seq, base + self._seq + take))
                self._seq += take
            return ids

    def one(self) -> int:
        return self.allocate(1)[0]


class NodeLease:
    """Holds one node row in `node_leases` for this process and renews it in a daemon thread."""

    def __init__(self, store: Store, holder: str | None = None) -> None:
        self.store = store
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.node = -1
        self.valid_until = 0
        self._stop = threading.Event()
        self._renewing = threading.Lock()  # renew() and release() never interleave
        self._thread: threading.Thread | None = None

    def acquire(self) -> int:
        """Take the lowest free node, or else the lowest expired one. Raises when all 1,024 are held."""
        for _ in range(20):
            now = now_ms()
            until = now + LEASE_MS
            with self.store.write() as conn:
                rows = conn.execute(select(node_leases.c.node_id, node_leases.c.expires_at)).all()
                held = {r.node_id for r in rows}
                free = next((n for n in range(MAX_NODE + 1) if n not in held), None)
                if free is not None:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(node_leases).values(node_id=free, holder=self.holder,
                                                                    expires_at=until))
                        self.node = free
                    except IntegrityError:
                        continue
                else:
                    expired = sorted(r.node_id for r in rows if r.expires_at < now)
                    if not expired:
                        raise RuntimeError("all 1,024 id nodes are leased by live processes")
                    if not self._take(conn, expired[0], now, until):
                        continue
                    self.node = expired[0]
            self.valid_until = until
            log.info("id node %d leased by %s", self.node, self.holder)
            return self.node
        raise RuntimeError("could not lease an id node (too much contention)")

    def _take(self, conn: Connection, node: int, now: int, until: int) -> bool:
        result = conn.execute(
            update(node_leases)
            .where(node_leases.c.node_id == node, node_leases.c.expires_at < now)
            .values(holder=self.holder, expires_at=until)
        )
        return result.rowcount == 1

    def renew(self) -> bool:
        with self._renewing:
            if self._stop.is_set():
                return False
            until = now_ms() + LEASE_MS
            with self.store.write() as conn:
                result = conn.execute(
                    update(node_leases)
                    .where(node_leases.c.node_id == self.node, node_leases.c.holder == self.holder)
                    .values(expires_at=until)
                )
            if result.rowcount == 1:
                self.valid_until = until
                return True
            log.error("id node %d: lease taken over by another process", self.node)
            self.valid_until = 0
            return False

    def start(self) -> IdAllocator:
        """Acquire a node, keep it renewed, and return its allocator."""
        self.acquire()
        self._thread = threading.Thread(target=self._renew_loop, name="smsgw-id-lease", daemon=True)
        self._thread.start()
        return IdAllocator(self.node, lambda: self.valid_until)

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            try:
                if not self.renew():
                    return
            except Exception:  # the database may be briefly unreachable; the lease has minutes to spare
                log.exception("id node %d: lease renewal failed; will retry", self.node)

    def release(self, grace_ms: int = 0) -> None:
        """Give the node back. Waits for a renewal in flight, so none can revive the lease afterwards. With a grace
        period, work still in flight (requests finishing while a server stops) may allocate for that long more; the
        lease row expires then, and only then can another process take the node."""
        with self._renewing:
            self._stop.set()
            if self.node < 0:
                self.valid_until = 0
                return
            mine = (node_leases.c.node_id == self.node, node_leases.c.holder == self.holder)
            with self.store.write() as conn:
                if grace_ms > 0:
                    until = min(self.valid_until, now_ms() + grace_ms)
                    conn.execute(update(node_leases).where(*mine).values(expires_at=until))
                    self.valid_until = until
                else:
                    self.valid_until = 0
                    conn.execute(delete(node_leases).where(*mine))
