"""Benchmark production WSGI servers for ``smsgw serve``.

Measures requests/s and latency (p50/p99) of the same tiny werkzeug WSGI app -- a Modica-style
``GET /message?application=..&password=..&destination=..&content=..`` that parses the query with
werkzeug's ``Request``, does a dict lookup and answers ``200 text/plain`` with a message id, i.e. a
face with no database -- under granian, gunicorn (gthread), cheroot and waitress.  Each server runs
in its own process group on a free 127.0.0.1 port and is loaded with ``wrk --latency``.  The point
is to choose the server by measurement: with no database the numbers are the server's own
overhead per request, which is the ceiling that ``smsgw serve`` can reach on this machine.

Usage::

    .venv/bin/python bench/wsgi_servers.py --seconds 10 --connections 50

Needs ``wrk`` on PATH and the servers installed in the running interpreter's environment.
Only loopback addresses are ever contacted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import importlib.metadata
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

HOST = "127.0.0.1"
PATH = "/message?application=a&password=p&destination=%2B6421000000&content=hi"
HERE = Path(__file__).resolve().parent
TARGET = f"{Path(__file__).stem}:app"

# --------------------------------------------------------------------------------------------------
# The application under test (imported by every server subprocess as ``wsgi_servers:app``).

_ACCOUNTS: dict[tuple[str, str], str] = {("a", "p"): "acct-1", ("b", "q"): "acct-2"}
_ids = itertools.count(1)


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Accept a message the way a database-less Modica ``/message`` face would."""
    request = Request(environ)
    if request.path != "/message":
        return Response("not found\n", 404, mimetype="text/plain")(environ, start_response)
    args = request.args
    account = _ACCOUNTS.get((args.get("application", ""), args.get("password", "")))
    if account is None:
        return Response("bad credentials\n", 403, mimetype="text/plain")(environ, start_response)
    if not args.get("destination") or "content" not in args:
        return Response("missing destination or content\n", 400, mimetype="text/plain")(environ, start_response)
    body = f"{account}-{next(_ids)}\n"
    return Response(body, 200, mimetype="text/plain")(environ, start_response)


def create_app() -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """Factory form of :func:`app` (for servers started with a factory target)."""
    return app


# --------------------------------------------------------------------------------------------------
# Candidates.


@dataclass(frozen=True)
class Candidate:
    server: str
    config: str
    argv: Callable[[int], list[str]]
    package: str


def _console(name: str) -> str:
    """The console script installed next to the running interpreter (the venv's), else PATH's."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed")
    return found


def _granian(workers: int, blocking_threads: int | None) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", HOST, "--port", str(port)]
        cmd += ["--workers", str(workers), "--working-dir", str(HERE), "--log-level", "warning"]
        if blocking_threads is not None:
            cmd += ["--blocking-threads", str(blocking_threads)]
        return [*cmd, TARGET]

    return argv


def _gunicorn(workers: int, threads: int) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
            "--workers", str(workers), "--threads", str(threads), "--bind", f"{HOST}:{port}",
            "--chdir", str(HERE), "--log-level", "warning", TARGET,
        ]  # fmt: skip

    return argv


def _cheroot(threads: int) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "cheroot", "--bind", f"{HOST}:{port}", "--chdir", str(HERE),
            "--threads", str(threads), "--max-threads", str(threads), "--request-queue-size", "128",
            TARGET,
        ]  # fmt: skip

    return argv


def _waitress(threads: int) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [_console("waitress-serve"), f"--listen={HOST}:{port}", f"--threads={threads}", TARGET]

    return argv


CANDIDATES: list[Candidate] = [
    Candidate("granian", "wsgi, 1 worker, default blocking threads", _granian(1, None), "granian"),
    Candidate("granian", "wsgi, 1 worker, 1 blocking thread", _granian(1, 1), "granian"),
    Candidate("granian", "wsgi, 1 worker, 4 blocking threads", _granian(1, 4), "granian"),
    Candidate("granian", "wsgi, 2 workers, default blocking threads", _granian(2, None), "granian"),
    Candidate("granian", "wsgi, 2 workers, 1 blocking thread", _granian(2, 1), "granian"),
    Candidate("granian", "wsgi, 2 workers, 4 blocking threads", _granian(2, 4), "granian"),
    Candidate("gunicorn", "gthread, 2 workers x 4 threads", _gunicorn(2, 4), "gunicorn"),
    Candidate("cheroot", "1 process, 10 threads", _cheroot(10), "cheroot"),
    Candidate("cheroot", "1 process, 30 threads", _cheroot(30), "cheroot"),
    Candidate("waitress", "1 process, 8 threads", _waitress(8), "waitress"),
]

# --------------------------------------------------------------------------------------------------
# Process handling: every server gets its own process group, killed whole on any exit.

_running: dict[int, subprocess.Popen[bytes]] = {}


def _stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it has not exited within ``grace``."""
    _running.pop(proc.pid, None)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Workers may outlive a master that has already exited: always sweep the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _stop_all() -> None:
    for proc in list(_running.values()):
        _stop(proc, grace=2.0)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    _stop_all()
    raise SystemExit(128 + signum)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _probe(port: int) -> str | None:
    """GET the benchmark URL once; return an error description, or None if the answer is right."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", PATH)
        resp = conn.getresponse()
        body = resp.read().decode()
        ctype = resp.getheader("Content-Type", "")
        if resp.status != 200 or not ctype.startswith("text/plain") or not body.startswith("acct-1-"):
            return f"unexpected answer {resp.status} {ctype!r} {body!r}"
        return None
    finally:
        conn.close()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before answering")
        try:
            error = _probe(port)
        except OSError as exc:
            last = repr(exc)
        else:
            if error is None:
                return
            raise RuntimeError(error)
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {timeout:.0f}s ({last})")


# --------------------------------------------------------------------------------------------------
# wrk.

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unparsable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def parse_wrk(output: str) -> Result:
    """Parse ``wrk --latency`` output: requests/s, 50%/99% latency and non-2xx + socket errors."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"cannot parse wrk output:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        errors += sum(int(n) for n in sock.groups())
    return Result(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), errors)


def run_wrk(port: int, seconds: int, connections: int, threads: int) -> tuple[Result, str]:
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://{HOST}:{port}{PATH}"
    ]  # fmt: skip
    # Own process group too, so that an interrupted benchmark does not leave wrk hammering a port.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    _running[proc.pid] = proc
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError("wrk did not finish in time") from None
    finally:
        _stop(proc, grace=2.0)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed with status {proc.returncode}: {text.strip()}")
    return parse_wrk(text), text


# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    candidate: Candidate
    result: Result | None
    note: str = ""
    log: Path | None = None


def bench_one(cand: Candidate, args: argparse.Namespace, logdir: Path) -> Row:
    port = _free_port()
    log = logdir / f"{cand.server}-{len(list(logdir.iterdir()))}.log"
    pythonpath = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cand.argv(port), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=HERE, env=env, start_new_session=True,
        )  # fmt: skip
    _running[proc.pid] = proc
    try:
        _wait_ready(proc, port, timeout=30)
        if args.warmup:
            run_wrk(port, args.warmup, args.connections, args.wrk_threads)
        result, raw = run_wrk(port, args.seconds, args.connections, args.wrk_threads)
        if args.verbose:
            print(raw, file=sys.stderr)
        if proc.poll() is not None:
            return Row(cand, None, "server died during the run", log)
        return Row(cand, result, log=log)
    except (RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        return Row(cand, None, str(exc), log)
    finally:
        _stop(proc)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def render(rows: list[Row]) -> str:
    best = max((r.result.rps for r in rows if r.result), default=0.0)
    header = ("server", "config", "req/s", "p50 ms", "p99 ms", "errors", "vs best")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        name = f"{row.candidate.server} {_version(row.candidate.package)}"
        if row.result is None:
            lines.append((name, row.candidate.config, "FAILED", "", "", "", row.note))
            continue
        res = row.result
        lines.append((
            name, row.candidate.config, f"{res.rps:,.0f}", f"{res.p50_ms:.2f}", f"{res.p99_ms:.2f}",
            str(res.errors), f"{res.rps / best:.2f}" if best else "",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}
    out = []
    for n, line in enumerate(lines):
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [c.rjust(w) if i in numeric and n else c.ljust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per server (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured wrk seconds first (default 2)")
    parser.add_argument("--only", default="", help="run only candidates whose server name contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="print raw wrk output to stderr")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        parser.error("wrk is not on PATH (apt-get install wrk)")
    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    # Other load on the machine skews every number: say how busy it was.
    load_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="wsgi-bench-") as tmp:
        for cand in CANDIDATES:
            if args.only and args.only not in cand.server:
                continue
            print(f"... {cand.server}: {cand.config}", file=sys.stderr, flush=True)
            row = bench_one(cand, args, Path(tmp))
            if row.result is None:
                print(f"    failed: {row.note}", file=sys.stderr)
                if row.log is not None:
                    with contextlib.suppress(OSError):
                        print(row.log.read_text(errors="replace")[-2000:], file=sys.stderr)
            rows.append(row)

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.seconds}s --latency, {os.cpu_count()} CPUs "
        f"(load avg at start {load_start}, end {load}), Python {sys.version.split()[0]}, "
        f"werkzeug {_version('werkzeug')}, GET {PATH}"
    )
    print(render(rows))
    return 0 if all(r.result for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
