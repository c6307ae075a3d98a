"""Helper of ``bench/reports.sh``: waits on the callbacks the receiver logged, reads them back, checks smsgw's
store, samples the CPU of every process under test, and prints the final table.

Subcommands (the shell script calls them; nothing here starts or stops a daemon)::

    reports.py ports N | get URL | fetch URL | kannel-status FILE | wait-bind STATS SECONDS | feed DIR WRK_OUT |
               snap FILE LABEL=PGID... | cpu-since FILE SINCE | checks PROBLEM... -- FACT... |
               drain STATS N STALL MAX
                                                as in smpp_vs_kannel.py
    reports.py cpu SECONDS LABEL=PGID...        as in http_vs_kannel.py
    reports.py wait-reports DB N STALL          waits until smsgw's reports table holds N rows, or STALL s pass
                                                without a new one; prints the count
    reports.py wait-callbacks LOG STATS N STALL MAX
                                                waits until the receiver logged N callbacks, or neither the
                                                callbacks nor the peer's counters moved for STALL s, or MAX s
                                                passed; prints why it stopped (complete | stalled | timeout), the
                                                callbacks, the receipts acked and the seconds waited
    reports.py store DB N SECONDS               waits until N of smsgw's reports are settled (done or dead), or
                                                SECONDS without change; prints {"messages": {status: n},
                                                "reports": {state: n}} as JSON
    reports.py callbacks LOG [DB]               the callbacks the receiver logged, as JSON: count, distinct ids,
                                                duplicates, first and last arrival, status words and HTTP codes;
                                                with smsgw's DB, also messages without a callback and callbacks for
                                                no message
    reports.py wrk-rate WRK_OUT                 {"rps": ..., "p99_ms": ...} from wrk's own report
    reports.py sample OUT INTERVAL LABEL=PGID...
                                                until SIGTERM: every INTERVAL s, one JSON line with the CPU ticks
                                                of every process in those groups (named by what it runs) and of
                                                the machine
    reports.py table RESULTS_TSV MESSAGES QUEUED
                                                the results table (QUEUED: 1 when the peer started after the feed);
                                                exits 1 when a check failed

RESULTS_TSV has one line per row, tab-separated: system, the feed's JSON (``-`` when none), the peer's final counters
(JSON, ``-`` when none), the callbacks' JSON (``-`` when none), the checks as JSON ({"problems": [...], "facts":
[...]}), the CPU samples file (``-`` when none), and when the report sender was started (epoch seconds; ``-`` unless
it was started only once every receipt was in: --backlog). A receiver-alone row has wrk-rate's JSON in the callbacks
column.

The receiver's log (nginx, ``log_format``) has one line per callback: ``$msec $arg_id $arg_status $status``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from typing import Any

from http_vs_kannel import _machine_ticks, cpu, fetch, get, ports
from smpp_vs_kannel import _rate, _stats, checks, cpu_since, drain, feed, kannel_status, snap, wait_bind

TARGET = 1.0  # smsgw's callbacks per second at least Kannel's
SETTLED = ("done", "dead")


# --- waiting --------------------------------------------------------------------------------------------------------


class _LineCounter:
    """Lines in a growing file, reading only what was added since the last look."""

    def __init__(self, path: str) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return self.lines
        self.offset += len(data)
        self.lines += data.count(b"\n")
        return self.lines


def wait_callbacks(log: str, stats_path: str, expected: int, stall: float, limit: float) -> None:
    started = time.monotonic()
    counter = _LineCounter(log)
    last, last_move = None, started
    while True:
        callbacks = counter.count()
        stats = _stats(stats_path)
        now = (callbacks, stats.get("submit_sm", 0), stats.get("receipts_sent", 0), stats.get("receipts_acked", 0))
        if callbacks >= expected:
            why = "complete"
            break
        if now != last:
            last, last_move = now, time.monotonic()
        if time.monotonic() - last_move > stall:
            why = "stalled"
            break
        if time.monotonic() - started > limit:
            why = "timeout"
            break
        time.sleep(0.1)
    print(why, callbacks, now[3], f"{time.monotonic() - started:.1f}")


def wait_reports(db_file: str, expected: int, stall: float) -> None:
    count, last_move = -1, time.monotonic()
    while time.monotonic() - last_move <= stall:
        try:
            with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as conn:
                now = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
        except sqlite3.Error:
            now = count
        if now >= expected:
            count = now
            break
        if now != count:
            count, last_move = now, time.monotonic()
        time.sleep(0.2)
    print(count)


def _store_counts(db_file: str) -> dict[str, dict[str, int]]:
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as conn:
        return {
            "messages": dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status ORDER BY status")),
            "reports": dict(conn.execute("SELECT state, count(*) FROM reports GROUP BY state ORDER BY state")),
        }


def store(db_file: str, expected: int, seconds: float) -> None:
    last: dict[str, dict[str, int]] | None = None
    last_move = time.monotonic()
    while True:
        try:
            counts = _store_counts(db_file)
        except sqlite3.Error as error:
            counts = {"error": {str(error): 0}}
        if sum(counts.get("reports", {}).get(s, 0) for s in SETTLED) >= expected:
            break
        if counts != last:
            last, last_move = counts, time.monotonic()
        if time.monotonic() - last_move > seconds:
            break
        time.sleep(0.2)
    print(json.dumps(counts))


# --- reading back ---------------------------------------------------------------------------------------------------


def callbacks(log: str, db_file: str | None) -> None:
    ids: Counter[str] = Counter()
    words: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    first = last = None
    malformed = 0
    try:
        with open(log, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) != 4:
                    malformed += 1
                    continue
                at, ident, word, code = float(fields[0]), fields[1], fields[2], fields[3]
                first = at if first is None else min(first, at)
                last = at if last is None else max(last, at)
                ids[ident] += 1
                words[word] += 1
                codes[code] += 1
    except FileNotFoundError:
        pass
    count = sum(ids.values())
    result: dict[str, Any] = {
        "count": count, "distinct": len(ids), "duplicates": count - len(ids), "first": first, "last": last,
        "statuses": dict(words.most_common()), "http": dict(codes.most_common()), "malformed": malformed,
    }
    if db_file is not None:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as conn:
            known = {str(row[0]) for row in conn.execute("SELECT id FROM messages")}
        result["without_callback"] = len(known - ids.keys())
        result["unknown_ids"] = len(ids.keys() - known)
    print(json.dumps(result))


def wrk_rate(path: str) -> None:
    rps = p99 = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.split()
            if line.startswith("Requests/sec:"):
                rps = float(parts[1])
            elif len(parts) == 2 and parts[0] == "99%":
                value = parts[1]
                scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
                for suffix in ("us", "ms", "s"):
                    if value.endswith(suffix):
                        p99 = float(value[:-len(suffix)]) * scale[suffix]
                        break
    print(json.dumps({"rps": rps, "p99_ms": p99}))


# --- CPU samples ----------------------------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [a.decode("utf-8", "replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return []


def _name(pid: int, ppid: int, comm: str) -> str:
    """What a process is, in a word or two: smsgw's processes by their subcommand, the rest by their program."""
    args = _cmdline(pid)
    if comm == "nginx":  # nginx rewrites its command line: "nginx: master process ...", "nginx: worker process"
        return "nginx " + ("master" if "master" in " ".join(args) else "worker")
    if not args:
        return comm
    program = os.path.basename(args[0])
    if program == "timeout":
        return "timeout"
    if program.startswith("python"):
        if "outbox" in args:
            return "outbox"
        if "worker" in args:
            return "worker"
        if "serve" in args:
            # granian's worker processes run the same command line as their parent, serve's main process
            parent = _cmdline(ppid)
            python_parent = bool(parent) and os.path.basename(parent[0]).startswith("python")
            return "granian worker" if python_parent and "serve" in parent else "serve (granian main)"
        if any(a.endswith("smpp_peer.py") for a in args):
            return "smpp_peer"
        return " ".join(os.path.basename(a) for a in args[:2])
    return program


def _processes(pgids: dict[int, str], names: dict[str, str]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """pid -> [group label, name, utime + stime ticks] for every live process in those groups, and the same (label
    "") for every other process that has used any CPU. `names` caches pid -> name."""
    found: dict[str, list[Any]] = {}
    others: dict[str, list[Any]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                head, _, tail = handle.read().rpartition(")")
        except OSError:
            continue
        fields = tail.split()
        ticks = int(fields[11]) + int(fields[12])
        label = pgids.get(int(fields[2]))
        if label is None and ticks == 0:
            continue
        name = names.get(entry)
        if name is None:
            name = names[entry] = _name(int(entry), int(fields[1]), head.partition("(")[2])
        (found if label is not None else others)[entry] = [label or "", name, ticks]
    return found, others


def sample(out: str, interval: float, specs: list[str]) -> None:
    pgids = {int(pgid): label for label, _, pgid in (spec.partition("=") for spec in specs)}
    names: dict[str, str] = {}  # pid -> name, looked up once (a process does not change what it runs here)
    stop = False

    def leave(_signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    with open(out, "a", encoding="utf-8") as handle:
        while not stop:
            procs, others = _processes(pgids, names)
            all_ticks, idle = _machine_ticks()
            handle.write(json.dumps({"t": time.time(), "procs": procs, "others": others, "all": all_ticks,
                                     "idle": idle}) + "\n")
            handle.flush()
            if not procs:
                break
            time.sleep(interval)


def _load_samples(path: str) -> list[dict[str, Any]]:
    samples = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    samples.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return samples


def cpu_window(path: str, start: float | None, end: float | None, since: str) -> str:
    """Each kind of process's CPU over [start, end] (from the sample just before to the one just after), and the
    busiest stretch of about a second of any one of them."""
    samples = _load_samples(path)
    if start is None or end is None or len(samples) < 2:
        return "no CPU samples for the window"
    before = [s for s in samples if s["t"] <= start]
    after = [s for s in samples if s["t"] >= end]
    a = before[-1] if before else samples[0]
    b = after[0] if after else samples[-1]
    if b["t"] <= a["t"]:
        return "no CPU samples for the window"
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    window = [s for s in samples if a["t"] <= s["t"] <= b["t"]]
    span = b["t"] - a["t"]
    shares: dict[str, float] = {}
    counts: Counter[str] = Counter()
    peaks: dict[str, float] = {}
    for pid, (_label, name, ticks) in b["procs"].items():
        start_ticks = a["procs"].get(pid, [None, name, 0])[2]  # started within the window: all its ticks count
        shares[name] = shares.get(name, 0.0) + (ticks - start_ticks) / hz / span * 100
        counts[name] += 1
        for i in range(len(window) - 1):
            j = i + 1
            while j < len(window) - 1 and window[j]["t"] - window[i]["t"] < 1.0:
                j += 1
            x, y = window[i]["procs"].get(pid), window[j]["procs"].get(pid)
            if x is not None and y is not None:
                peak = (y[2] - x[2]) / hz / (window[j]["t"] - window[i]["t"]) * 100
                peaks[name] = max(peaks.get(name, 0.0), peak)
    busy = (1 - (b["idle"] - a["idle"]) / max(b["all"] - a["all"], 1)) * 100 * ncpu
    outside: dict[str, float] = {}  # what processes outside the systems under test used (wrk's feed, anyone else)
    for pid, (_label, name, ticks) in b.get("others", {}).items():
        start_ticks = a.get("others", {}).get(pid, [None, name, 0])[2]
        outside[name] = outside.get(name, 0.0) + (ticks - start_ticks) / hz / span * 100
    rest = max(busy - sum(shares.values()) - sum(outside.values()), 0.0)
    parts = []
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        if name == "timeout" or (share < 0.5 and peaks.get(name, 0.0) < 0.5):
            continue
        many = f" x{counts[name]}" if counts[name] > 1 else ""
        parts.append(f"{name}{many} {share:.0f}% (busiest second {peaks.get(name, 0.0):.0f}%)")
    top = sorted(((share, name) for name, share in outside.items() if share >= 1.0), reverse=True)[:4]
    elsewhere = ", ".join(f"{name} {share:.0f}%" for share, name in top) or "nothing much"
    return (f"CPU from {since} to the last callback ({span:.1f} s between samples; 100% = one CPU, "
            f"{ncpu * 100}% in all; machine busy {busy:.0f}%): " + ", ".join(parts)
            + f"; outside the systems under test {sum(outside.values()):.0f}% ({elsewhere}); gone before the end (the "
            f"feed's wrk) or unaccounted {rest:.0f}%")


# --- the table ------------------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(path: str, messages: int, queued: bool) -> None:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                system, fed, peer, calls, check, samples, sender = line.rstrip("\n").split("\t")
                rows.append((system, None if fed == "-" else json.loads(fed),
                             None if peer == "-" else json.loads(peer), None if calls == "-" else json.loads(calls),
                             json.loads(check), None if samples == "-" else samples,
                             None if sender == "-" else float(sender)))

    def callback_rate(calls: dict[str, Any] | None) -> float | None:
        if calls is None or "count" not in calls:
            return None
        return _rate(calls["count"], calls["first"], calls["last"])

    kannel = next((r for r in rows if r[0] == "Kannel"), None)
    k_rate = callback_rate(kannel[3]) if kannel else None
    header = ("system", "fed msg/s", "drain msg/s", "receipts/s", "callbacks/s", "end-to-end s", "callbacks ratio",
              "check")
    out: list[tuple[str, ...]] = []
    notes: list[str] = []
    failed = False
    for system, fed, peer, calls, check, samples, sender in rows:
        if calls is not None and "rps" in calls:  # the receiver alone
            out.append((system, "-", "-", "-", _num(calls["rps"]), "-", "-", "OK" if calls["rps"] else "FAIL"))
            notes.append(f"{system}: p99 {_num(calls['p99_ms'], 2)} ms; "
                         + "; ".join(check.get("facts", [])))
            failed = failed or not calls["rps"]
            continue
        problems: list[str] = []
        fed_rate = _rate(fed["accepted"], fed["first"], fed["last"]) if fed else None
        drain = receipts = end_to_end = None
        if peer is not None:
            drain = _rate(peer["submit_sm"], peer["first_submit"], peer["last_submit"])
            receipts = _rate(peer["receipts_acked"], peer["first_receipt"], peer["last_ack"])
        rate = callback_rate(calls)
        # from the first receipt sent, or with --backlog from the report sender's start, to the last callback
        window_start = sender if sender is not None else peer["first_receipt"] if peer is not None else None
        if calls is not None and calls["last"] and window_start:
            end_to_end = calls["last"] - window_start
        if fed is not None and fed["accepted"] != messages:
            problems.append(f"fed {fed['accepted']:,} of {messages:,}")
        if peer is None:
            problems.append("no peer counters")
        elif peer["receipts_acked"] != messages:
            problems.append(f"{peer['receipts_acked']:,} receipts acked")
        if calls is None:
            problems.append("no callbacks log")
        else:
            if calls["distinct"] != messages:
                problems.append(f"{calls['distinct']:,} distinct ids called back of {messages:,}")
            if calls["duplicates"]:
                problems.append(f"{calls['duplicates']:,} duplicate callbacks")
            if calls.get("without_callback"):
                problems.append(f"{calls['without_callback']:,} messages without a callback")
            if calls.get("unknown_ids"):
                problems.append(f"{calls['unknown_ids']:,} callbacks for no message")
            if calls["malformed"]:
                problems.append(f"{calls['malformed']:,} malformed log lines")
        problems.extend(check.get("problems", []))
        failed = failed or bool(problems)
        ratio = f"{rate / k_rate:.2f}x" if rate and k_rate else "-"
        out.append((system, _num(fed_rate), _num(drain), _num(receipts), _num(rate), _num(end_to_end, 2), ratio,
                    "OK" if not problems else "FAIL: " + "; ".join(problems)))
        details = []
        if fed is not None:
            details.append(f"fed {fed['accepted']:,} ({fed['rejected']:,} refused, {fed['socket_errors']} socket "
                           f"errors)" + (f" in {fed['last'] - fed['first']:.2f} s" if fed["first"] and fed["last"]
                                         else ""))
        if peer is not None:
            details.append(f"peer: submit_sm {peer['submit_sm']:,}, receipts sent {peer['receipts_sent']:,}, acked "
                           f"{peer['receipts_acked']:,}, refused {peer['receipts_nacked']:,}, failed "
                           f"{peer['receipts_failed']:,}, still queued {peer['receipts_queued']:,}")
            if peer["first_receipt"] and peer["last_ack"]:
                details.append(f"receipts over {peer['last_ack'] - peer['first_receipt']:.2f} s")
            if fed and fed["last"] and peer["first_receipt"] and not queued:
                details.append(f"last callback {calls['last'] - fed['last']:+.2f} s after the feed ended"
                               if calls and calls["last"] else "no callback")
        if calls is not None:
            details.append(f"callbacks {calls['count']:,} ({calls['distinct']:,} distinct ids, "
                           f"{calls['duplicates']:,} duplicates), statuses {calls['statuses']}, HTTP {calls['http']}")
            if calls["first"] and calls["last"]:
                details.append(f"callbacks over {calls['last'] - calls['first']:.2f} s")
            if sender is not None and calls["first"]:
                details.append(f"first callback {calls['first'] - sender:+.2f} s after the report sender started")
            elif peer is not None and calls["first"] and peer["first_receipt"]:
                details.append(f"first callback {calls['first'] - peer['first_receipt']:+.2f} s after the first "
                               "receipt")
        details.extend(check.get("facts", []))
        if samples is not None and calls is not None:
            details.append(cpu_window(samples, window_start, calls["last"],
                                      "the report sender's start" if sender is not None else "the first receipt"))
        notes.append(f"{system}: " + "; ".join(details))

    widths = [max(len(r[i]) for r in [header, *out]) for i in range(len(header))]
    right = {1, 2, 3, 4, 5, 6}

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
    verdicts = [f"{cells[0]} {cells[6]}: {'met' if float(cells[6][:-1]) >= TARGET else 'NOT met'}"
                for cells in out if cells[0] != "Kannel" and cells[6] != "-"]
    if verdicts:
        print(f"  Target: smsgw >= {TARGET}x Kannel's callbacks per second: " + "; ".join(verdicts))
    if failed:
        raise SystemExit(1)


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "sample":
        sample(argv[1], float(argv[2]), argv[3:])
        return
    if len(argv) >= 2 and argv[0] == "cpu":
        cpu(float(argv[1]), argv[2:])
        return
    if len(argv) >= 2 and argv[0] == "snap":
        snap(argv[1], argv[2:])
        return
    if argv and argv[0] == "checks":
        checks(argv[1:])
        return
    if len(argv) in (2, 3) and argv[0] == "callbacks":
        callbacks(argv[1], argv[2] if len(argv) == 3 else None)
        return
    commands: dict[str, tuple[int, Any]] = {
        "ports": (1, lambda a: ports(int(a[0]))),
        "get": (1, lambda a: get(a[0])),
        "fetch": (1, lambda a: fetch(a[0])),
        "kannel-status": (1, lambda a: kannel_status(a[0])),
        "wait-bind": (2, lambda a: wait_bind(a[0], float(a[1]))),
        "feed": (2, lambda a: feed(a[0], a[1])),
        "wait-callbacks": (5, lambda a: wait_callbacks(a[0], a[1], int(a[2]), float(a[3]), float(a[4]))),
        "drain": (4, lambda a: drain(a[0], int(a[1]), float(a[2]), float(a[3]))),
        "wait-reports": (3, lambda a: wait_reports(a[0], int(a[1]), float(a[2]))),
        "store": (3, lambda a: store(a[0], int(a[1]), float(a[2]))),
        "cpu-since": (2, lambda a: cpu_since(a[0], a[1])),
        "wrk-rate": (1, lambda a: wrk_rate(a[0])),
        "table": (3, lambda a: table(a[0], int(a[1]), a[2] == "1")),
    }
    if not argv or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][0]:
        raise SystemExit(__doc__)
    commands[argv[0]][1](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
