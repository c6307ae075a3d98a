"""Helper of ``bench/http_vs_kannel.sh``: free ports, Kannel counters, stored rows, and the final table.

Subcommands (the shell script calls them; nothing here starts or stops a process)::

    http_vs_kannel.py ports N                  N free TCP ports on 127.0.0.1, one a line
    http_vs_kannel.py get URL                  one GET: prints the HTTP status, a space, the body's first line
    http_vs_kannel.py fetch URL                one GET: prints the whole body; fails unless the status is 200
    http_vs_kannel.py kannel-sent STATUS_TXT   messages bearerbox has sent to its SMSCs, and its store size
    http_vs_kannel.py stored DB_FILE           rows in smsgw's ``messages`` table, and distinct recipients
    http_vs_kannel.py cpu SECONDS LABEL=PGID...  CPU used by each process group over SECONDS, and by the rest
                                               (with no LABEL=PGID: only the rest's %, as a number)
    http_vs_kannel.py table RESULTS_TSV        the results table (ratio to Kannel, stored/accepted check)

RESULTS_TSV has one line per measurement, tab-separated: system, endpoint, the JSON line that the wrk Lua
script's ``done()`` printed (or ``-`` when the endpoint was not measured), the number of messages found in the
store afterwards (summed over warm-up and measured run), the 2xx answers of the warm-up, and a note.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack


def ports(count: int) -> None:
    """Bind ``count`` ephemeral ports at once (so they differ), print them, release them."""
    with ExitStack() as stack:
        found = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            found.append(sock.getsockname()[1])
    print("\n".join(str(port) for port in found))


def get(url: str) -> None:
    """Status 000 when nothing answers; never raises for an HTTP error status."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except OSError:
        status, body = 0, b""
    first = body.decode("utf-8", "replace").strip().splitlines()[:1]
    print(f"{status:03d} {first[0][:200] if first else ''}")


def fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:
        sys.stdout.write(response.read().decode("utf-8", "replace"))


def kannel_sent(path: str) -> None:
    """From bearerbox's ``status.txt``: "SMS: received R (q queued), sent S (q queued), store size Z"."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    match = re.search(r"SMS: received \d+ \((\d+) queued\), sent (\d+) \((\d+) queued\), store size (-?\d+)", text)
    if match is None:
        raise SystemExit(f"no SMS counters in {path}")
    queued_in, sent, queued_out, store = match.groups()
    print(sent, int(queued_in) + int(queued_out), store)


def stored(db_file: str) -> None:
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        rows, recipients = conn.execute("SELECT count(*), count(DISTINCT recipient) FROM messages").fetchone()
    print(rows, recipients)


def _group_ticks(pgids: dict[str, int]) -> dict[str, int]:
    """utime + stime (clock ticks) of every live process in each process group, all its threads included."""
    ticks = dict.fromkeys(pgids, 0)
    by_pgid = {pgid: label for label, pgid in pgids.items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        label = by_pgid.get(int(fields[2]))
        if label is not None:
            ticks[label] += int(fields[11]) + int(fields[12])
    return ticks


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return sum(values), values[3] + values[4]  # all, idle + iowait


def cpu(seconds: float, specs: list[str]) -> None:
    """One line: each group's CPU share in % of one CPU, and what the rest of the machine used meanwhile."""
    pgids = {label: int(pgid) for label, _, pgid in (spec.partition("=") for spec in specs)}
    hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    before, (all0, idle0), t0 = _group_ticks(pgids), _machine_ticks(), time.monotonic()
    time.sleep(seconds)
    after, (all1, idle1), elapsed = _group_ticks(pgids), _machine_ticks(), time.monotonic() - t0
    shares = {label: (after[label] - before[label]) / hz / elapsed * 100 for label in pgids}
    busy = (1 - (idle1 - idle0) / max(all1 - all0, 1)) * 100 * ncpu
    rest = max(busy - sum(shares.values()), 0.0)
    if not pgids:
        print(f"{rest:.0f}")
        return
    parts = ", ".join(f"{label} {share:.0f}%" for label, share in shares.items())
    print(f"CPU during the run (100% = one CPU, {ncpu * 100}% in all): {parts}, everything else {rest:.0f}%")


TARGET = 0.5  # smsgw's requests/s at least half Kannel's


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def table(path: str) -> None:
    rows: list[tuple[str, str, dict[str, int] | None, str, str, str]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                system, endpoint, raw, store, warm, note = line.rstrip("\n").split("\t")
                rows.append((system, endpoint, None if raw == "-" else json.loads(raw), store, warm, note))

    def rate(wrk: dict[str, int]) -> float:
        return wrk["requests"] / (wrk["duration_us"] / 1e6)

    kannel_rps = next((rate(wrk) for system, _, wrk, *_ in rows if system == "Kannel" and wrk), None)
    header = ("system", "endpoint", "req/s", "p50 ms", "p99 ms", "ratio to Kannel", "stored/accepted")
    out: list[tuple[str, ...]] = []
    notes: list[str] = []
    for system, endpoint, wrk, store, warm, note in rows:
        if wrk is None:
            out.append((system, endpoint, "-", "-", "-", "-", "not run"))
            notes.append(f"{system} {endpoint}: {note}")
            continue
        errors = wrk["connect"] + wrk["read"] + wrk["write"] + wrk["timeout"]
        accepted = wrk["requests"] - wrk["non2xx"] + int(warm)
        # wrk stops with up to one request in flight per connection (warm-up and run) and abandons timed-out ones:
        # the server may still store those, so the store may hold a few more than wrk saw accepted, never fewer.
        slack = wrk["connections"] * 2 + errors
        found = int(store) if store.lstrip("-").isdigit() else -1
        check = f"{'OK' if accepted <= found <= accepted + slack else 'FAIL'} {found:,}/{accepted:,}"
        if wrk["non2xx"]:
            check += f" ({wrk['non2xx']:,} non-2xx)"
        ratio = f"{rate(wrk) / kannel_rps:.2f}x" if kannel_rps else "-"
        p50, p99 = _num(wrk["p50_us"] / 1000, 2), _num(wrk["p99_us"] / 1000, 2)
        out.append((system, endpoint, _num(rate(wrk)), p50, p99, ratio, check))
        notes.append(
            f"{system} {endpoint}: {wrk['requests']:,} requests in {wrk['duration_us'] / 1e6:.1f} s, "
            f"{wrk['non2xx']:,} non-2xx, {errors} socket errors; warm-up and probe accepted {int(warm):,}"
            + (f"; {note}" if note else "")
        )

    widths = [max(len(r[i]) for r in [header, *out]) for i in range(len(header))]
    right = {2, 3, 4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for cells in out:
        print(fmt(cells))
    print()
    for note in notes:
        print(f"  {note}")
    targets = [
        f"{system} {endpoint} {ratio} {'met' if float(ratio[:-1]) >= TARGET else 'NOT met'}"
        for system, endpoint, _, _, _, ratio, _ in out
        if system != "Kannel" and ratio != "-"
    ]
    if targets:
        print(f"  Target: smsgw >= {TARGET}x Kannel's requests/s: " + "; ".join(targets))
    others = [int(m) for note in notes for m in re.findall(r"everything else (\d+)%", note)]
    if others and max(others) > 25:
        print(
            f"  WARNING: other processes used up to {max(others)}% CPU during a run: the machine was not quiet, and"
            " the figures and ratios are less reliable; run again when it is idle."
        )


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "cpu":
        cpu(float(argv[1]), argv[2:])
        return
    if len(argv) != 2:
        raise SystemExit(__doc__)
    command, arg = argv
    if command == "ports":
        ports(int(arg))
    elif command == "get":
        get(arg)
    elif command == "fetch":
        fetch(arg)
    elif command == "kannel-sent":
        kannel_sent(arg)
    elif command == "stored":
        stored(arg)
    elif command == "table":
        table(arg)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
