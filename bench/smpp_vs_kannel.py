"""Helper of ``bench/smpp_vs_kannel.sh``: waits on the SMSC peer's counters, the feed's figures, smsgw's stored
statuses, the peer's own capacity, and the final table.

Subcommands (the shell script calls them; nothing here starts or stops a daemon)::

    smpp_vs_kannel.py ports N | get URL | fetch URL | cpu ...   as in http_vs_kannel.py
    smpp_vs_kannel.py kannel-status STATUS_TXT   "sent queued store dlr_queued online" from bearerbox's status.txt
                                                 (online: 1 when the SMPP link is online)
    smpp_vs_kannel.py wait-bind STATS SECONDS    waits until the peer has a bound session; fails after SECONDS
    smpp_vs_kannel.py feed MARKER_DIR WRK_OUT    the feed's JSON: accepted, rejected, first start, last done
    smpp_vs_kannel.py drain STATS N STALL MAX    waits until the peer took N submit_sm and N receipts were acked,
                                                 or nothing moved for STALL s, or MAX s passed; prints why it
                                                 stopped (complete | stalled | timeout) and the counts
    smpp_vs_kannel.py statuses DB N SECONDS      waits until N messages are in a final state (or SECONDS of no
                                                 change); prints {status: count} as JSON
    smpp_vs_kannel.py blast PORT N WINDOW        the peer's capacity: a lean asyncio ESME (transceiver, WINDOW
                                                 in flight) submits N messages asking for receipts and takes the
                                                 receipts; prints the client's JSON figures
    smpp_vs_kannel.py snap FILE LABEL=PGID...     CPU ticks of those process groups and of the machine, to FILE
    smpp_vs_kannel.py cpu-since FILE SINCE       each group's CPU share since ``snap`` (SINCE: words for when),
                                                 and the rest's
    smpp_vs_kannel.py checks PROBLEM... -- FACT...  the checks' JSON: {"problems": [...], "facts": [...]}
    smpp_vs_kannel.py table RESULTS_TSV MESSAGES QUEUED   the results table (QUEUED: 1 when the peer started
                                                 after the feed); exits 1 when a check failed

RESULTS_TSV has one line per system, tab-separated: system, the feed's JSON (``-`` when there was no feed), the
peer's final counters (JSON, ``-`` when none), the extra checks as JSON (``{}`` when none), a note.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import struct
import sys
import time
from typing import Any

from http_vs_kannel import _group_ticks, _machine_ticks, cpu, fetch, get, ports

FINAL = ("delivered", "undeliverable", "expired", "rejected", "failed", "cancelled")
TARGET = 1.0  # smsgw's drain and receipts per second at least Kannel's


def kannel_status(path: str) -> None:
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    sms = re.search(r"SMS: received \d+ \((\d+) queued\), sent (\d+) \((\d+) queued\), store size (-?\d+)", text)
    dlr = re.search(r"DLR: (\d+) queued", text)
    if sms is None or dlr is None:
        raise SystemExit(f"no SMS/DLR counters in {path}")
    queued_in, sent, queued_out, store = sms.groups()
    online = 1 if re.search(r"SMPP:.*\(online", text) else 0
    print(sent, int(queued_in) + int(queued_out), store, dlr.group(1), online)


def _stats(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return dict(json.load(handle))
    except (OSError, ValueError):
        return {}


def wait_bind(path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _stats(path).get("bound", 0) > 0:
            return
        time.sleep(0.2)
    raise SystemExit(1)


def feed(marker_dir: str, wrk_out: str) -> None:
    """From the wrk Lua script's marker files (``<tid>.start`` at init, ``<tid>.done`` holding "accepted rejected"
    when the thread had its quota) and its WRKJSON line: the feed's counts and its first and last instant."""
    starts, dones, accepted, rejected = [], [], 0, 0
    for name in os.listdir(marker_dir):
        path = os.path.join(marker_dir, name)
        if name.endswith(".start"):
            starts.append(os.stat(path).st_mtime_ns / 1e9)
        elif name.endswith(".done"):
            dones.append(os.stat(path).st_mtime_ns / 1e9)
            with open(path, encoding="ascii") as handle:
                acc, rej = handle.read().split()[:2]
            accepted, rejected = accepted + int(acc), rejected + int(rej)
    wrk: dict[str, Any] = {}
    with open(wrk_out, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("WRKJSON "):
                wrk = json.loads(line[8:])
    result = {"accepted": accepted, "rejected": rejected, "threads_done": len(dones), "threads": len(starts),
              "first": min(starts) if starts else None, "last": max(dones) if dones else None,
              "socket_errors": sum(wrk.get(k, 0) for k in ("connect", "read", "write", "timeout")),
              "requests": wrk.get("requests")}
    print(json.dumps(result))


def drain(path: str, expected: int, stall: float, limit: float) -> None:
    started = time.monotonic()
    last_move, last = started, None
    while True:
        stats = _stats(path)
        now_counts = (stats.get("submit_sm", 0), stats.get("receipts_acked", 0), stats.get("receipts_sent", 0))
        if now_counts[0] >= expected and now_counts[1] >= expected:
            why = "complete"
            break
        if now_counts != last:
            last, last_move = now_counts, time.monotonic()
        if time.monotonic() - last_move > stall:
            why = "stalled"
            break
        if time.monotonic() - started > limit:
            why = "timeout"
            break
        time.sleep(0.1)
    print(why, now_counts[0], now_counts[1], f"{time.monotonic() - started:.1f}")


def _status_counts(db_file: str) -> dict[str, int]:
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as conn:
        return {status: count for status, count in
                conn.execute("SELECT status, count(*) FROM messages GROUP BY status ORDER BY status")}


def statuses(db_file: str, expected: int, seconds: float) -> None:
    last: dict[str, int] | None = None
    last_move = time.monotonic()
    while True:
        try:
            counts = _status_counts(db_file)
        except sqlite3.Error as error:
            counts = {f"error: {error}": 0}
        if sum(counts.get(s, 0) for s in FINAL) >= expected:
            break
        if counts != last:
            last, last_move = counts, time.monotonic()
        if time.monotonic() - last_move > seconds:
            break
        time.sleep(0.2)
    print(json.dumps(counts))


class _Esme(asyncio.Protocol):
    """A lean SMPP ESME for `blast`: a transceiver keeping WINDOW submit_sm in flight, acknowledging receipts.
    (smpp34.Client tops out near 3k messages/s here and drops the link when receipts outrun its Python side.)"""

    def __init__(self, count: int, window: int, done: asyncio.Future[None]) -> None:
        self.count, self.window, self.done = count, window, done
        self.buffer = b""
        self.sequence = self.sent = self.answered = self.refused = self.receipts = self.in_flight = 0
        self.started = self.submitted = 0.0
        self.transport: asyncio.Transport | None = None

    def _pdu(self, command: int, body: bytes = b"", sequence: int | None = None) -> bytes:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        return struct.pack(">IIII", 16 + len(body), command, 0, sequence) + body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._pdu(0x09, b"bench\0bench\0\0\x34\0\0\0"))

    def _submit(self) -> None:
        out = []
        while self.in_flight < self.window and self.sent < self.count:
            self.sent += 1
            self.in_flight += 1
            out.append(self._pdu(0x04, b"\0\x01\x0158870\0\x01\x01" + f"4474{self.sent:08d}".encode()
                                 + b"\0\0\0\0\0\0\x01\0\0\0\x0bhello world"))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        pos, out = 0, []
        while len(buffer) - pos >= 16:
            length, command, status, sequence = struct.unpack_from(">IIII", buffer, pos)
            if len(buffer) - pos < length:
                break
            pos += length
            if command == 0x80000009:
                if status:
                    self.done.set_exception(RuntimeError(f"bind refused: status {status:#x}"))
                    return
                self.started = time.time()
            elif command == 0x80000004:
                self.answered += 1
                self.in_flight -= 1
                self.refused += status != 0
                if self.answered == self.count:
                    self.submitted = time.time()
            elif command == 0x05:
                self.receipts += 1
                out.append(self._pdu(0x80000005, b"\0", sequence))
            elif command == 0x15:
                out.append(self._pdu(0x80000015, b"", sequence))
        self.buffer = buffer[pos:]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if self.started:
            self._submit()
        if self.answered >= self.count and self.receipts >= self.count and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("the peer closed the link"))


async def _blast(port: int, count: int, window: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    transport, esme = await loop.create_connection(lambda: _Esme(count, window, done), "127.0.0.1", port)
    error = None
    try:
        await asyncio.wait_for(done, 300)
    except (TimeoutError, RuntimeError, ConnectionError) as exc:
        error = str(exc) or type(exc).__name__
    finished = time.time()
    transport.write(esme._pdu(0x06))
    await asyncio.sleep(0.1)
    transport.close()
    result: dict[str, Any] = {"window": window, "answered": esme.answered, "refused": esme.refused,
                              "receipts": esme.receipts, "error": error}
    if esme.submitted:
        result["submit_per_s"] = round(count / (esme.submitted - esme.started))
        result["all_per_s"] = round(esme.receipts / (finished - esme.started))
    return result


def blast(port: int, count: int, window: int) -> None:
    print(json.dumps(asyncio.run(_blast(port, count, window))))


def checks(args: list[str]) -> None:
    """PROBLEM... -- FACT...: the checks' JSON for the results file."""
    cut = args.index("--") if "--" in args else len(args)
    print(json.dumps({"problems": args[:cut], "facts": args[cut + 1:]}))


def snap(path: str, specs: list[str]) -> None:
    """Now's CPU ticks of each process group LABEL=PGID and of the machine, to FILE (for ``cpu-since``)."""
    pgids = {label: int(pgid) for label, _, pgid in (spec.partition("=") for spec in specs)}
    all_ticks, idle = _machine_ticks()
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"pgids": pgids, "ticks": _group_ticks(pgids), "all": all_ticks, "idle": idle,
                   "at": time.monotonic()}, handle)


def cpu_since(path: str, since: str) -> None:
    """CPU each group of a ``snap`` used since then, in % of one CPU, and what the rest of the machine used."""
    with open(path, encoding="utf-8") as handle:
        before = json.load(handle)
    after, (all1, idle1) = _group_ticks(before["pgids"]), _machine_ticks()
    elapsed = time.monotonic() - before["at"]
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    shares = {label: max(after[label] - before["ticks"][label], 0) / hz / elapsed * 100 for label in before["pgids"]}
    busy = (1 - (idle1 - before["idle"]) / max(all1 - before["all"], 1)) * 100 * ncpu
    rest = max(busy - sum(shares.values()), 0.0)
    parts = ", ".join(f"{label} {share:.0f}%" for label, share in shares.items())
    print(f"CPU from {since} to the drain's end ({elapsed:.1f} s; 100% = one CPU, {ncpu * 100}% in all): "
          f"{parts}, wrk and everything else {rest:.0f}%")


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _rate(count: int, first: float | None, last: float | None) -> float | None:
    if not count or first is None or last is None or last <= first:
        return None
    return count / (last - first)


def table(path: str, messages: int, queued: bool) -> None:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                system, fed, peer, checks, note = line.rstrip("\n").split("\t")
                rows.append((system, None if fed == "-" else json.loads(fed), None if peer == "-" else json.loads(peer),
                             json.loads(checks), note))

    def drain_rate(peer: dict[str, Any] | None) -> float | None:
        return None if peer is None else _rate(peer["submit_sm"], peer["first_submit"], peer["last_submit"])

    def receipt_rate(peer: dict[str, Any] | None) -> float | None:
        return None if peer is None else _rate(peer["receipts_acked"], peer["first_receipt"], peer["last_ack"])

    kannel = next((r for r in rows if r[0] == "Kannel"), None)
    k_drain = drain_rate(kannel[2]) if kannel else None
    k_receipts = receipt_rate(kannel[2]) if kannel else None
    header = ("system", "fed msg/s", "drain msg/s", "receipts/s", "drain ratio", "receipts ratio", "check")
    out: list[tuple[str, ...]] = []
    notes: list[str] = []
    failed = False
    for system, fed, peer, checks, note in rows:
        fed_rate = _rate(fed["accepted"], fed["first"], fed["last"]) if fed else None
        d, r = drain_rate(peer), receipt_rate(peer)
        problems = []
        if fed is not None and fed["accepted"] != messages:
            problems.append(f"fed {fed['accepted']:,} of {messages:,}")
        if peer is None:
            problems.append("no peer counters")
        else:
            if peer["submit_sm"] != messages:
                problems.append(f"peer took {peer['submit_sm']:,} submit_sm")
            if peer["receipts_acked"] != messages:
                problems.append(f"{peer['receipts_acked']:,} receipts acked")
        problems.extend(checks.get("problems", []))
        failed = failed or bool(problems)
        check = "OK" if not problems else "FAIL: " + "; ".join(problems)
        ratio_d = f"{d / k_drain:.2f}x" if d and k_drain else "-"
        ratio_r = f"{r / k_receipts:.2f}x" if r and k_receipts else "-"
        out.append((system, _num(fed_rate) if fed_rate else "-", _num(d) if d else "-", _num(r) if r else "-",
                    ratio_d, ratio_r, check))
        details = []
        if fed is not None:
            details.append(f"fed {fed['accepted']:,} accepted ({fed['rejected']:,} refused, "
                           f"{fed['socket_errors']} socket errors)")
            if fed["first"] and fed["last"]:
                details.append(f"feed {fed['last'] - fed['first']:.2f} s")
        if peer is not None:
            if peer["first_submit"] and peer["last_submit"]:
                span = peer["last_submit"] - peer["first_submit"]
                details.append(f"submit_sm {peer['submit_sm']:,} over {span:.2f} s")
                if fed and fed["first"] and fed["last"] and not queued:
                    lag = peer["last_submit"] - fed["last"]
                    details.append(f"first submit_sm {peer['first_submit'] - fed['first']:+.2f} s after the feed "
                                   f"began, last {lag:+.2f} s after it ended ("
                                   + ("the drain kept up: the feed set its pace)" if lag < 1 else
                                      "the drain fell behind the feed)"))
            else:
                details.append("no submit_sm reached the peer")
            details.append(f"receipts requested {peer['receipts_requested']:,}, sent {peer['receipts_sent']:,}, "
                           f"acked {peer['receipts_acked']:,}, refused {peer['receipts_nacked']:,}, "
                           f"failed {peer['receipts_failed']:,}, still queued {peer['receipts_queued']:,}")
            if peer["first_receipt"] and peer["last_ack"]:
                details.append(f"receipts over {peer['last_ack'] - peer['first_receipt']:.2f} s")
            details.append(f"binds {peer['binds']} ({', '.join(peer['system_ids']) or '-'})")
        details.extend(checks.get("facts", []))
        if note:
            details.append(note)
        notes.append(f"{system}: " + "; ".join(details))

    widths = [max(len(r[i]) for r in [header, *out]) for i in range(len(header))]
    right = {1, 2, 3, 4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for cells in out:
        print(fmt(cells))
    print()
    for line in notes:
        print(f"  {line}")
    verdicts = []
    for cells in out:
        if cells[0] != "Kannel" and cells[4] != "-" and not cells[0].startswith("peer"):
            met = float(cells[4][:-1]) >= TARGET and cells[5] != "-" and float(cells[5][:-1]) >= TARGET
            verdicts.append(f"{cells[0]} drain {cells[4]}, receipts {cells[5]}: {'met' if met else 'NOT met'}")
    if verdicts:
        print(f"  Target: smsgw >= {TARGET}x Kannel's drain and receipts per second: " + "; ".join(verdicts))
    if failed:
        raise SystemExit(1)


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "cpu":
        cpu(float(argv[1]), argv[2:])
        return
    if len(argv) >= 2 and argv[0] == "snap":
        snap(argv[1], argv[2:])
        return
    if argv and argv[0] == "checks":
        checks(argv[1:])
        return
    commands: dict[str, tuple[int, Any]] = {
        "ports": (1, lambda a: ports(int(a[0]))),
        "get": (1, lambda a: get(a[0])),
        "fetch": (1, lambda a: fetch(a[0])),
        "kannel-status": (1, lambda a: kannel_status(a[0])),
        "wait-bind": (2, lambda a: wait_bind(a[0], float(a[1]))),
        "feed": (2, lambda a: feed(a[0], a[1])),
        "drain": (4, lambda a: drain(a[0], int(a[1]), float(a[2]), float(a[3]))),
        "statuses": (3, lambda a: statuses(a[0], int(a[1]), float(a[2]))),
        "blast": (3, lambda a: blast(int(a[0]), int(a[1]), int(a[2]))),
        "cpu-since": (2, lambda a: cpu_since(a[0], a[1])),
        "table": (3, lambda a: table(a[0], int(a[1]), a[2] == "1")),
    }
    if not argv or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][0]:
        raise SystemExit(__doc__)
    commands[argv[0]][1](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
