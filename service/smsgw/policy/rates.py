"""Per-account rate limits: token buckets shared by all processes of one machine, divided among machines.

Each (account, kind) pair — kind "requests" or "messages" — has a bucket of `limit` tokens (one second's worth),
refilled at `limit / machines` tokens per second. A request is admitted while its bucket holds at least one token,
and then takes all it needs, even more than the bucket holds: the bucket goes into debt, and later requests wait
until the debt is repaid. So a batch larger than one second's worth (10,000 messages at 100/s) goes at once, and
the account sends nothing more for the next 100 s: over time the rate stays within the limit, while no batch is
refused for being larger than the bucket. A refused request is told how long to wait (for HTTP, a Retry-After).

One machine: the buckets live in a small memory-mapped file that every gateway process of the machine maps —
in /dev/shm when there is one (memory; gone at reboot), else in the temporary directory — named after a hash of
the database URL, so two gateways on different databases do not share buckets. The file (640 KiB) holds a fixed
number of slots, 16,384, with open addressing: about 13,000 buckets (6,500 accounts with both limits) in use at
once fit, and a slot whose bucket has refilled completely (idle) is reused. Should an account find no slot, it is
admitted without a limit, and that is logged once per process: our own table never refuses a request. Updates
are serialised by an `flock` on the file (an admission costs about 2 µs); refills follow the monotonic clock, which
all processes of one machine share.

Several machines: each one refills at `limit / N`, where N is the number of distinct hosts holding an unexpired
id-node lease on the database (every gateway process holds one; see `store/ids.py`), this machine included,
re-read at most every 5 s. The tolerance:

- in any t seconds, all machines together admit at most `limit × t`, plus per machine one bucket's burst (`limit`)
  and the debt of its last request (n - 1 units);
- an account whose traffic reaches one machine only gets `limit / N` there: spread requests across machines (as
  a load balancer does);
- N counts every machine with a process that holds a lease — delivery workers, the outbox and admin commands
  (these for a few seconds after they finish) as well as HTTP servers — and a machine that died until its lease
  runs out (5 minutes): meanwhile the others admit less than the limit, never more;
- N changes at most 5 s after a machine joins or leaves, and processes may see it change a little apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import mmap
import os
import socket
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from smsgw.store.database import Store
from smsgw.store.ids import now_ms
from smsgw.store.tables import node_leases

log = logging.getLogger(__name__)

KINDS = {"requests": 1, "messages": 2}
SLOTS = 16384  # in a new file; an existing file keeps the number it was made with
PROBES = 128  # slots looked at for one key, from its hash on
MACHINES_EVERY_S = 5.0
MIN_WAIT_S = 0.001
_EPSILON = 1e-9  # a whole token, give or take the float arithmetic of refills

_MAGIC = b"smsgwrl1"
_HEADER = struct.Struct("<8sq")  # magic, number of slots
_HEADER_SIZE = 64
# Account id, kind (0 = never used), tokens, last refill (clock), full again at (clock; then the slot may be reused).
_SLOT = struct.Struct("<qqddd")
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def default_path(url: str) -> Path:
    """The bucket file of the gateways on database `url`: in /dev/shm if there is one, else the temporary directory."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        url = f"sqlite:///{Path(parsed.database).resolve()}"  # the same file, however it is named
    digest = hashlib.sha256(url.encode()).hexdigest()[:20]
    shm = Path("/dev/shm")
    directory = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())
    return directory / f"smsgw-rates-{digest}"


def host_of(holder: str) -> str:
    """The machine of a node lease's holder ("hostname:pid:hex")."""
    return holder.rsplit(":", 2)[0] if holder.count(":") >= 2 else holder


class Rates:
    """Token buckets per (account, kind), shared by the processes of this machine through a memory-mapped file.
    Thread-safe; after a fork the child opens the file anew on its first use."""

    def __init__(self, store: Store, *, path: Path | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], int] = now_ms) -> None:
        self.store = store
        self.path = path or default_path(store.url)
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._slots = 0
        self._full_logged = False
        self._machines = 1
        self._machines_due = -math.inf
        self._refreshing = threading.Lock()
        _instances.add(self)

    def admit(self, account_id: int, limits: Sequence[tuple[str, int, int]]) -> tuple[str, float] | None:
        """Admit a request against each of the account's limits that apply to it, `(kind, limit, units)` (a limit of
        0 or less is none). None when every bucket admits it, and then the units are taken from each; otherwise the
        kind of the first bucket that refuses it and the seconds until it would admit it, and nothing is taken from
        any (a request refused for its messages keeps its request token). One lock for them all."""
        wanted = []
        for kind, limit, n in limits:
            code = KINDS.get(kind)
            if code is None:
                raise ValueError(f"unknown rate kind {kind!r}; expected one of {', '.join(KINDS)}")
            if limit > 0 and n > 0:
                wanted.append((kind, code, limit, n))
        if not wanted:
            return None
        if self._clock() >= self._machines_due:
            self._count_machines()
        with self._lock:
            table = self._open() if self._map is None else self._map
            fd = self._fd
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                return self._take(table, account_id, wanted)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Unmap the file (it stays for the other processes; a later `admit` maps it again)."""
        with self._lock:
            self._forget()

    def _take(self, table: mmap.mmap, account_id: int, wanted: list[tuple[str, int, int, int]]
              ) -> tuple[str, float] | None:
        now = self._clock()
        taken = []
        for kind, code, limit, n in wanted:
            rate = limit / self._machines
            offset, tokens, last = self._bucket(table, account_id, code, limit, now)
            if offset < 0:  # the table is full: no limit for this one
                continue
            elapsed = now - last
            if elapsed > 0:
                tokens += elapsed * rate
            tokens = min(tokens, float(limit))  # also when the limit was lowered
            if tokens < 1.0 - _EPSILON:
                return kind, max(MIN_WAIT_S, (1.0 - tokens) / rate)
            taken.append((offset, code, tokens - n, max(now, last), now + (limit - tokens + n) / rate))
        for offset, code, tokens, last, full_at in taken:
            _SLOT.pack_into(table, offset, account_id, code, tokens, last, full_at)
        return None

    def _bucket(self, table: mmap.mmap, account_id: int, code: int, limit: int, now: float
                ) -> tuple[int, float, float]:
        """The slot of (account, kind) with its tokens and last refill: a new bucket is full, in a free slot (one
        never used, or one whose bucket is full again and so idle); offset -1 when there is none."""
        slots = self._slots
        home = (((account_id << 2) | code) * _MIX & _MASK) >> 32
        free = -1
        for probe in range(min(PROBES, slots)):
            offset = _HEADER_SIZE + ((home + probe) % slots) * _SLOT.size
            account, kind, tokens, last, full_at = _SLOT.unpack_from(table, offset)
            if kind == code and account == account_id:
                return offset, tokens, last
            if free < 0 and (kind == 0 or now >= full_at):
                free = offset
            if kind == 0:  # slots are never emptied, so no key lies beyond an unused one
                break
        if free < 0 and not self._full_logged:
            self._full_logged = True
            log.error("rate-limit table %s is full: account %d (and any other without a slot) is admitted without a "
                      "limit", self.path, account_id)
        return free, float(limit), now

    def _open(self) -> mmap.mmap:
        """Map the file, creating it at its size if needed (several processes may do this at once)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                header = os.pread(fd, _HEADER.size, 0)
                if len(header) < _HEADER.size or header == bytes(_HEADER.size):
                    slots = SLOTS
                    os.ftruncate(fd, _HEADER_SIZE + slots * _SLOT.size)
                    os.pwrite(fd, _HEADER.pack(_MAGIC, slots), 0)
                else:
                    magic, slots = _HEADER.unpack(header)
                    if magic != _MAGIC or slots <= 0:
                        raise RuntimeError(f"{self.path} is not a rate-limit table of this version")
                    size = _HEADER_SIZE + slots * _SLOT.size
                    if os.fstat(fd).st_size < size:
                        os.ftruncate(fd, size)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            table = mmap.mmap(fd, _HEADER_SIZE + slots * _SLOT.size)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._map, self._slots = fd, table, slots
        return table

    def _forget(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _count_machines(self) -> None:
        """Re-read the number of machines from the node leases: one thread at a time, the others go on with the
        number they have. A database error keeps the old number (and is retried 5 s later)."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            if self._clock() < self._machines_due:
                return
            self._machines_due = self._clock() + MACHINES_EVERY_S
            try:
                with self.store.peek() as conn:
                    holders = conn.execute(select(node_leases.c.holder)
                                           .where(node_leases.c.expires_at > self._wall())).scalars().all()
            except Exception:
                log.warning("rate limits: cannot count the machines (still dividing by %d)", self._machines,
                            exc_info=True)
                return
            hosts = {host_of(holder) for holder in holders}
            hosts.add(socket.gethostname())
            self._machines = len(hosts)
        finally:
            self._refreshing.release()

    def _after_fork(self) -> None:
        """In a forked child: the parent's locks may be held, and its file descriptor shares the parent's flock."""
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._forget()


_instances: weakref.WeakSet[Rates] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for rates in list(_instances):
        rates._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
