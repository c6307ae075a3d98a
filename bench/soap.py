"""Puzzel SOAP `sendMessages` over HTTP, against Kannel's sendsms measured in the same run for scale.

    .venv/bin/python bench/soap.py [--seconds N] [--database sqlite|postgresql] [--pg-server URL]

Runs, one after another, each for a 1 s warm-up and then N s measured (default 10):

1. Kannel 1.4.5 from Debian, `/cgi-bin/sendsms`, one message per GET, loaded exactly as `bench/http_vs_kannel.sh`
   loads it: its Kannel configuration (bearerbox with `store-type = file`, fakesmsc as receive-only SMSC, smsbox with
   a sendsms-user), its wrk Lua script, threads, connections, warm-up, text and originator are read from that script
   so that the two cannot drift. Checked as there: fakesmsc must have received every accepted message.
2. `smsgw serve` (granian, its default 2 HTTP workers, SMSGW_SMSC=simulator) on a fresh database, POST
   `/gw/ws/SMSGatewayV10` with a SOAP 1.1 `sendMessages` envelope of one message (wrk -t2 -c16, as Kannel) and of
   1,000 messages (wrk -t2 -c4: each request is about 85 kB, its answer about 250 kB), every message to its own
   recipient (a wrk Lua script counts up per thread). Each twice: with serve's delivery worker sending every
   accepted message to the simulator while the load runs, as production runs it (and as Kannel's bearerbox sends to
   fakesmsc), and with `--no-worker`. Each smsgw run gets its own fresh database (SQLite in the temporary directory,
   or with --database postgresql a database created on --pg-server and dropped at the end).

Checks, per run: every answer was HTTP 200 and every `messageStatus` in it had statusCode 1 (the Lua `response`
callback counts them), and the rows in `messages` afterwards are the messages accepted (warm-up and probe included;
up to the requests in flight when wrk stopped may be stored on top). messages/s = messages accepted (statusCode 1) /
the measured seconds; the ratio is that over Kannel's messages/s. Targets (this 2-core machine, issue "bench/soap.py"):
>= 3,000 requests/s with one message per request, >= 30,000 messages/s in 1,000-message requests, committed.

Needs wrk, bearerbox, smsbox and fakesmsc (`apt-get install -y kannel kannel-extras wrk`; installed when missing and
running as root). Everything listens on 127.0.0.1 on ports chosen free at run time; every process runs under
`timeout` in its own process group and is stopped at the end (also on Ctrl-C); the temporary directory is removed.
Exits 1 when a check failed or a run could not be made (the table is printed all the same).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import http_vs_kannel as helper  # bench/http_vs_kannel.py: free ports, Kannel's counters, CPU shares
from lxml import etree
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = ROOT / ".venv" / "bin"
KANNEL_SH = HERE / "http_vs_kannel.sh"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"

PATH = "/gw/ws/SMSGatewayV10"
SERVICE_ID, USERNAME, PASSWORD = 7001, "bench", "benchpw"
CONTENT = "hello world"
BATCH = 1_000
BATCH_CONNECTIONS = 4
BATCH_WRK_TIMEOUT = "10s"  # a 1,000-message request may take longer than wrk's default 2 s under load
TARGET_SINGLE_RPS = 3_000
TARGET_BATCH_MPS = 30_000
PROBE_TO = "+447499999999"  # the first request to smsgw, before the load (outside the load's numbers)
WARM_OFFSET = 40_000_000  # the warm-up's recipients count up from here, the measured runs' from 0, 10 M, 20 M
MEASUREMENTS = 3  # at most, when wrk's connections all land on one of granian's worker processes

SOAP_HEAD = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sms="http://chimera.intele.com/gw/wsdl/SMSGateway-v1.0" '
    'xmlns:ns="http://chimera.intele.com/gw/xsd/SMSGateway/Request/2013/02">'
    "<soapenv:Body><sms:sendMessages><ns:request>"
    f"<serviceId>{SERVICE_ID}</serviceId><username>{USERNAME}</username><password>{PASSWORD}</password>"
)
SOAP_MESSAGE = ("<message><recipient>", f"</recipient><content>{CONTENT}</content></message>")
SOAP_TAIL = "</ns:request></sms:sendMessages></soapenv:Body></soapenv:Envelope>"

# The smsgw load: wrk's Lua. {TO} numbering as http_vs_kannel.sh's script (UK mobiles from 4474 0000 0000 + the
# offset, 50 million apart per wrk thread); each request carries args[2] messages; `response` counts HTTP statuses
# other than 200, messageStatus elements and statusCode 1 in every answer, and `done` sums them over the threads.
SMSGW_LUA = string.Template(r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local head, msg_head, msg_tail, tail = $head, $msg_head, $msg_tail, $tail
local base, size, n
non200, statuses, accepted = 0, 0, 0
function init(args)
  base = 447400000000 + tid * 50000000 + tonumber(args[1])
  size = tonumber(args[2])
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
  wrk.headers["SOAPAction"] = '""'
end
function request()
  local parts = {}
  for i = 1, size do
    n = n + 1
    parts[i] = msg_head .. string.format("+%.0f", base + n) .. msg_tail
  end
  return wrk.format(nil, nil, nil, head .. table.concat(parts) .. tail)
end
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
  local _, found = string.gsub(body, "<messageStatus>", "")
  statuses = statuses + found
  _, found = string.gsub(body, "<statusCode>1</statusCode>", "")
  accepted = accepted + found
end
function done(summary, latency, requests)
  local bad, seen, ok = 0, 0, 0
  for _, t in ipairs(threads) do
    bad, seen, ok = bad + t:get("non200"), seen + t:get("statuses"), ok + t:get("accepted")
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "non200": %d, "statuses": %d, "accepted": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), bad, seen, ok))
end
""")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def captured(function: Callable[..., None], *args: Any) -> str:
    """What one of http_vs_kannel.py's subcommands prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        function(*args)
    return out.getvalue().strip()


def free_ports(count: int) -> list[int]:
    return [int(port) for port in captured(helper.ports, count).split()]


def http(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body); status 0 when nothing answers."""
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def connections_per_process(port: int) -> list[int]:
    """How many established connections to `port` each server process holds, most first ([] if `ss` cannot say)."""
    try:
        out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                             text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def until(seconds: float, ok: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not ok():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return f"({path} unreadable)"


# --- what http_vs_kannel.sh does to Kannel, read from it ------------------------------------------------------------


@dataclass(frozen=True)
class KannelSetup:
    threads: int
    connections: int
    warmup: int
    lua: str  # its wrk script, $CONNECTIONS filled in
    conf: str  # its kannel.conf, still with $admin $smsbox_port $fake $sendsms $dir
    template: str  # its sendsms path with {TO} for the destination


def expand(heredoc: str, values: dict[str, object]) -> str:
    """An unquoted bash here-document as bash expands it: `$name` and `${name}` (every one must be in `values`);
    any other `$` stays as it is."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise SystemExit(f"{KANNEL_SH}: a here-document uses ${name}, which bench/soap.py does not know")
        return str(values[name])

    return re.sub(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))", value, heredoc)


def kannel_setup() -> KannelSetup:
    source = KANNEL_SH.read_text()

    def one(pattern: str, what: str) -> str:
        match = re.search(pattern, source, re.MULTILINE | re.DOTALL)
        if match is None:
            raise SystemExit(f"{KANNEL_SH}: {what} not found (pattern {pattern!r}); bench/soap.py reads it from there")
        return match.group(1)

    values = {name: one(rf"^{name}=(\S+)", name) for name in ("THREADS", "CONNECTIONS", "WARMUP", "TEXT", "ORIGINATOR")}
    lua = expand(one(r'^cat >"\$LUA" <<EOF\n(.*?)\nEOF$', "the wrk Lua script"), dict(values))
    conf = one(r'^    cat >"\$dir/kannel.conf" <<EOF\n(.*?)\nEOF$', "kannel.conf")
    template = expand(one(r'local template="(/cgi-bin/sendsms\?[^"]*)"', "the sendsms template"), dict(values))
    return KannelSetup(int(values["THREADS"]), int(values["CONNECTIONS"]), int(values["WARMUP"]), lua + "\n", conf,
                       template)


# --- processes ------------------------------------------------------------------------------------------------------


class Processes:
    """Every process runs under `timeout` (which makes its own process group) and is stopped as bench/processes.sh's
    `stop` does it: the signal to the program `timeout` runs, and only to it (granian's workers hear it from their
    master; signalled through the group they get it three times and may hang), then 15 s before SIGKILL to the group."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, logfile: Path, *command: str, env: dict[str, str] | None = None,
              limit: int | None = None) -> subprocess.Popen[bytes]:
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(["timeout", "-k", "5", str(limit or self.limit), *command], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.running[proc.pid] = proc
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
        pgid = proc.pid
        try:
            children = Path(f"/proc/{pgid}/task/{pgid}/children").read_text().split()
        except OSError:
            children = []
        with contextlib.suppress(ProcessLookupError):
            if children:
                for child in children:
                    os.kill(int(child), sig)
            else:
                os.killpg(pgid, sig)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self.running.pop(pgid, None)

    def stop_all(self) -> None:
        for proc in list(self.running.values()):
            self.stop(proc)


# --- wrk --------------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    system: str
    endpoint: str
    batch: int
    connections: int
    wrk: dict[str, Any] | None = None  # the measured run's WRKJSON
    accepted: int = 0  # messages accepted in the measured run
    accepted_before: int = 0  # ... by the probe and the warm-up
    stored: int = -1  # messages found afterwards (smsgw: rows in messages; Kannel: received by fakesmsc)
    slack: int = 0  # messages that may be stored on top of those accepted (requests in flight when wrk stopped)
    why_not: str = ""  # when it could not be run
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.wrk["duration_us"] / 1e6 if self.wrk else 0.0

    @property
    def rps(self) -> float:
        return self.wrk["requests"] / self.seconds if self.wrk else 0.0

    @property
    def mps(self) -> float:
        return self.accepted / self.seconds if self.wrk else 0.0


class Bench:
    def __init__(self, seconds: int, database: str, pg_server: str, work: Path, kannel: KannelSetup) -> None:
        self.seconds = seconds
        self.database = database
        self.pg_server = pg_server.rstrip("/")
        self.work = work
        self.kannel = kannel
        self.procs = Processes(seconds * 3 + 120)
        self.databases: list[str] = []  # PostgreSQL databases created, dropped at the end
        self.smsgw_lua = work / "soap.lua"
        self.smsgw_lua.write_text(SMSGW_LUA.substitute(
            {name: json.dumps(value) for name, value in
             (("head", SOAP_HEAD), ("msg_head", SOAP_MESSAGE[0]), ("msg_tail", SOAP_MESSAGE[1]), ("tail", SOAP_TAIL))}))
        self.kannel_lua = work / "vary_destination.lua"
        self.kannel_lua.write_text(self.kannel.lua)

    def load(self, name: str, url: str, script: Path, args: list[str], seconds: int, connections: int,
             timeout: str | None = None, groups: dict[str, int] | None = None) -> dict[str, Any]:
        """One wrk run; its WRKJSON line. With `groups`, the CPU they and wrk used goes into the returned "cpu", and
        how wrk's connections were spread over the server's processes (half a second in) into "split"."""
        command = ["wrk", f"-t{self.kannel.threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
        command += [f"--timeout={timeout}"] if timeout else []
        output = self.work / f"{name}.wrk"
        proc = self.procs.start(output, *command, url, "--", *args, limit=seconds + 30)
        cpu, split = None, None
        if groups:
            time.sleep(0.5)
            split = connections_per_process(int(url.split(":")[2].split("/")[0]))
            specs = [f"wrk={proc.pid}", *(f"{label}={pgid}" for label, pgid in groups.items())]
            cpu = subprocess.run([sys.executable, str(HERE / "http_vs_kannel.py"), "cpu", str(max(seconds - 1, 1)),
                                  *specs], capture_output=True, text=True, check=False).stdout.strip()
        proc.wait()
        self.procs.running.pop(proc.pid, None)
        lines = [line for line in output.read_text(errors="replace").splitlines() if line.startswith("WRKJSON ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{tail(output)}")
        result: dict[str, Any] = json.loads(lines[0].removeprefix("WRKJSON "))
        if cpu:
            result["cpu"] = cpu
        if split:
            result["split"] = split
        return result

    # --- Kannel -----------------------------------------------------------------------------------------------------

    def kannel_row(self) -> Row:
        return Row("Kannel 1.4.5", "/cgi-bin/sendsms", 1, self.kannel.connections)

    def run_kannel(self, row: Row) -> None:
        k = self.kannel
        admin, smsbox_port, sendsms, fake = free_ports(4)
        folder = self.work / "kannel"
        folder.mkdir()
        conf = folder / "kannel.conf"
        conf.write_text(expand(k.conf, {"admin": admin, "smsbox_port": smsbox_port, "fake": fake,
                                        "sendsms": sendsms, "dir": folder}) + "\n")
        password = re.search(r"^admin-password = (\S+)$", k.conf, re.MULTILINE)
        status_url = f"http://127.0.0.1:{admin}/status.txt?password={password.group(1) if password else ''}"

        def fake_online() -> bool:
            status, body = http(status_url)
            return status == 200 and re.search(rb"FAKE.*\(online", body) is not None

        bearerbox = self.procs.start(folder / "bearerbox.log", "bearerbox", "-v", "2", str(conf))
        if not until(20, lambda: http(status_url)[0] != 0):
            raise RuntimeError(f"bearerbox did not answer:\n{tail(folder / 'bearerbox.log')}")
        fakesmsc = self.procs.start(folder / "fakesmsc.log", FAKESMSC, "-v", "1", "-H", "127.0.0.1", "-r", str(fake),
                                    "-m", "0", "1 2 text x")
        if not until(20, fake_online):
            raise RuntimeError(f"fakesmsc did not connect:\n{tail(folder / 'fakesmsc.log')}")
        smsbox = self.procs.start(folder / "smsbox.log", "smsbox", "-v", "2", str(conf))
        base = f"http://127.0.0.1:{sendsms}"
        if not until(20, lambda: http(f"{base}/cgi-bin/sendsms")[0] != 0):
            raise RuntimeError(f"smsbox did not answer:\n{tail(folder / 'smsbox.log')}")
        status, body = http(base + k.template.replace("{TO}", PROBE_TO.lstrip("+")))
        log(f"Kannel sendsms answers: {status} {body.decode(errors='replace').strip()[:100]}")
        row.accepted_before = int(200 <= status < 300)
        warm = self.load("kannel-warm", base, self.kannel_lua, [k.template, str(WARM_OFFSET)], k.warmup,
                         k.connections)
        row.accepted_before += warm["requests"] - warm["non2xx"]
        log(f"Kannel sendsms: measuring {self.seconds}s")
        row.wrk = self.load("kannel", base, self.kannel_lua, [k.template, "0"], self.seconds, k.connections,
                            groups={"bearerbox": bearerbox.pid, "smsbox": smsbox.pid, "fakesmsc": fakesmsc.pid})
        row.accepted = row.wrk["requests"] - row.wrk["non2xx"]
        # Let bearerbox hand everything to fakesmsc: its queues empty and its sent counter still for a second.
        last, sent, queued, store = -1, -1, -1, -1
        for _ in range(120):
            status_txt = folder / "status.txt"
            status_txt.write_bytes(http(status_url)[1])
            sent, queued, store = (int(v) for v in captured(helper.kannel_sent, str(status_txt)).split())
            if sent == last and queued == 0:
                break
            last = sent
            time.sleep(0.5)
        log(f"Kannel drained: bearerbox sent {sent}, queued {queued}, store size {store}")
        self.procs.stop(fakesmsc, signal.SIGINT)
        match = re.search(r"fakesmsc: (\d+) messages sent and (\d+) received",
                          (folder / "fakesmsc.log").read_text(errors="replace"))
        row.stored = int(match.group(2)) if match else -1
        self.procs.stop(smsbox)
        self.procs.stop(bearerbox)
        row.slack = 2 * k.connections + self.socket_errors(row.wrk)
        row.notes.append(f"fakesmsc received {row.stored:,}; bearerbox sent {sent:,}, store size {store} after "
                         "draining")

    @staticmethod
    def socket_errors(wrk: dict[str, Any]) -> int:
        return int(wrk["connect"] + wrk["read"] + wrk["write"] + wrk["timeout"])

    # --- smsgw ------------------------------------------------------------------------------------------------------

    def fresh_database(self, name: str) -> str:
        if self.database == "sqlite":
            return f"sqlite:///{self.work / name / 'smsgw.db'}"
        db = f"smsgw_bench_soap_{uuid.uuid4().hex[:8]}_{name.replace('-', '_')}"
        engine = create_engine(f"{self.pg_server}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db}"'))
        finally:
            engine.dispose()
        self.databases.append(db)
        return f"{self.pg_server}/{db}"

    def drop_databases(self) -> None:
        if not self.databases:
            return
        engine = create_engine(f"{self.pg_server}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for db in self.databases:
                    try:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                    except Exception as error:  # keep dropping the others
                        log(f"could not drop database {db}: {error}")
        finally:
            engine.dispose()
        self.databases.clear()

    @staticmethod
    def stored(url: str) -> tuple[int, int, dict[str, int]]:
        """Rows in messages, distinct recipients, rows by status."""
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                rows, recipients = conn.execute(
                    text("SELECT count(*), count(DISTINCT recipient) FROM messages")).one()
                by_status = {status: count for status, count in
                             conn.execute(text("SELECT status, count(*) FROM messages GROUP BY status"))}
        finally:
            engine.dispose()
        return rows, recipients, by_status

    @staticmethod
    def smsgw_row(batch: int, connections: int, worker: bool) -> Row:
        label = "with its delivery worker" if worker else "--no-worker"
        return Row(f"smsgw, {label}", "Puzzel sendMessages", batch, connections)

    def run_smsgw(self, row: Row, worker: bool) -> None:
        batch, connections = row.batch, row.connections
        label = "with its delivery worker" if worker else "--no-worker"
        name = f"smsgw-{batch}-{'worker' if worker else 'noworker'}"
        (self.work / name).mkdir()
        url = self.fresh_database(name)
        smsgw = str(VENV_BIN / "smsgw")
        account = subprocess.run(
            [smsgw, "--database-url", url, "account", "add", USERNAME, "--password", PASSWORD, "--id",
             str(SERVICE_ID), "--default-country", "GB", "--default-originator", "58870"],
            capture_output=True, text=True, check=False, timeout=120)
        if account.returncode != 0:
            raise RuntimeError(f"smsgw account add failed:\n{account.stdout}{account.stderr}")
        (port,) = free_ports(1)
        env = {**os.environ, "SMSGW_SMSC": "simulator"}
        serve_log = self.work / name / "serve.log"
        serve = self.procs.start(serve_log, smsgw, "--database-url", url, "serve", "--listen", f"127.0.0.1:{port}",
                                 *([] if worker else ["--no-worker"]), env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            if not until(60, lambda: http(f"{base}/healthz")[0] == 200):
                raise RuntimeError(f"smsgw serve did not answer /healthz:\n{tail(serve_log, 30)}")
            wsdl, _ = http(f"{base}{PATH}?wsdl")
            if wsdl != 200:
                row.why_not = (f"GET {PATH}?wsdl answers {wsdl}: the Puzzel endpoints are not served yet "
                               "(service/smsgw/soap/faces.py lists them)")
                return
            probe = self.probe(base)
            if probe:
                row.why_not = probe
                return
            row.accepted_before = 1
            warm = self.load(f"{name}-warm", base + PATH, self.smsgw_lua, [str(WARM_OFFSET), str(batch)],
                             self.kannel.warmup, connections, BATCH_WRK_TIMEOUT if batch > 1 else None)
            row.accepted_before += warm["accepted"]
            # wrk opens its connections at once and the kernel hands each to one of granian's 2 worker processes:
            # now and then all of them land on one, and the run measures one process instead of the server. Such a
            # run is measured again (at most MEASUREMENTS times in all), and the note says so.
            for attempt in range(MEASUREMENTS):
                log(f"smsgw sendMessages, {batch} per request, {label}: measuring {self.seconds}s")
                wrk = self.load(f"{name}-{attempt}", base + PATH, self.smsgw_lua, [str(attempt * 10_000_000),
                                str(batch)], self.seconds, connections, BATCH_WRK_TIMEOUT if batch > 1 else None,
                                groups={"smsgw": serve.pid})
                if row.wrk is not None:  # an earlier attempt's messages are stored too
                    row.accepted_before += row.wrk["accepted"]
                    row.slack += (connections + self.socket_errors(row.wrk)) * batch
                row.wrk, row.accepted = wrk, wrk["accepted"]
                if len(wrk.get("split", [])) != 1 or connections == 1:
                    break
                row.notes.append(f"measurement {attempt + 1}: all {connections} connections on one HTTP worker "
                                 f"process, {wrk['accepted'] / (wrk['duration_us'] / 1e6):,.0f} msg/s"
                                 + ("; measured again" if attempt + 1 < MEASUREMENTS else ""))
        finally:
            self.procs.stop(serve)  # graceful: requests in flight finish before the count
        if row.wrk is None:
            raise RuntimeError("no measurement")
        rows, recipients, by_status = self.stored(url)
        row.stored = rows
        row.slack += (2 * connections + self.socket_errors(row.wrk)) * batch
        statuses = ", ".join(f"{status} {count:,}" for status, count in sorted(by_status.items()))
        row.notes.append(f"{rows:,} rows in messages, {recipients:,} distinct recipients; by status: {statuses}")
        answered = row.wrk["requests"] * batch
        if row.wrk["non200"] or row.wrk["statuses"] != answered or row.accepted != answered:
            row.problems.append(f"{row.wrk['non200']:,} answers not HTTP 200, {row.wrk['statuses']:,} messageStatus "
                                f"for {answered:,} messages sent, {row.accepted:,} with statusCode 1")

    def probe(self, base: str) -> str:
        """One sendMessages of one message, read properly: an error description, or "" when it was accepted."""
        body = (SOAP_HEAD + SOAP_MESSAGE[0] + PROBE_TO + SOAP_MESSAGE[1] + SOAP_TAIL).encode()
        status, answer = http(base + PATH, body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
        shown = answer.decode(errors="replace")[:300]
        if status != 200:
            return f"the probe sendMessages answered HTTP {status}: {shown}"
        try:
            codes = [e.text for e in etree.fromstring(answer).iter() if etree.QName(e).localname == "statusCode"]
        except etree.XMLSyntaxError as error:
            return f"the probe's answer is not XML ({error}): {shown}"
        if codes != ["1"]:
            return f"the probe's answer has statusCode {codes}, not ['1']: {shown}"
        if answer.count(b"<statusCode>1</statusCode>") != 1 or answer.count(b"<messageStatus>") != 1:
            return f"the answer is not written as the wrk script counts it (<statusCode>1</statusCode>): {shown}"
        log(f"smsgw sendMessages answers 200, statusCode 1 ({len(answer)} bytes)")
        return ""


# --- the table -----------------------------------------------------------------------------------------------------


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def check(row: Row) -> str:
    if row.wrk is None:
        return "not run"
    accepted = row.accepted + row.accepted_before
    ok = accepted <= row.stored <= accepted + row.slack and not row.problems and (
        row.system.startswith("Kannel") or row.accepted > 0)
    return f"{'OK' if ok else 'FAIL'} {row.stored:,}/{accepted:,}"


def target(row: Row) -> str:
    if row.system.startswith("Kannel") or row.wrk is None:
        return ""
    if row.batch == 1:
        return f">= {TARGET_SINGLE_RPS:,} req/s " + ("met" if row.rps >= TARGET_SINGLE_RPS else "NOT met")
    return f">= {TARGET_BATCH_MPS:,} msg/s " + ("met" if row.mps >= TARGET_BATCH_MPS else "NOT met")


def table(rows: list[Row], threads: int) -> list[str]:
    kannel = next((row.mps for row in rows if row.system.startswith("Kannel") and row.wrk), None)
    header = ("system", "endpoint", "batch", "wrk", "req/s", "msg/s", "p50 ms", "p99 ms", "ratio to Kannel",
              "target", "stored/accepted")
    out: list[tuple[str, ...]] = []
    for row in rows:
        conns = f"-t{threads} -c{row.connections}"
        if row.wrk is None:
            out.append((row.system, row.endpoint, num(row.batch), conns, "-", "-", "-", "-", "-", "", "not run"))
            continue
        ratio = f"{row.mps / kannel:.2f}x" if kannel else "-"
        out.append((row.system, row.endpoint, num(row.batch), conns, num(row.rps), num(row.mps),
                    num(row.wrk["p50_us"] / 1000, 2), num(row.wrk["p99_us"] / 1000, 2), ratio, target(row),
                    check(row)))
    widths = [max(len(r[i]) for r in [header, *out]) for i in range(len(header))]
    right = {2, 4, 5, 6, 7, 8}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(cells) for cells in out)]


def notes(rows: list[Row]) -> Iterator[str]:
    for row in rows:
        what = f"{row.system}, {row.batch:,} per request"
        if row.wrk is None:
            yield f"{what}: not run: {row.why_not}"
            continue
        w = row.wrk
        parts = [f"{w['requests']:,} requests in {row.seconds:.1f} s, {w['non2xx']:,} non-2xx, "
                 f"{Bench.socket_errors(w)} socket errors", f"probe and warm-up accepted {row.accepted_before:,}"]
        if w.get("split"):
            parts.append(f"connections per server process {'+'.join(map(str, w['split']))}")
        if "non200" in w:
            parts.append(f"{w['non200']:,} answers not 200, {w['statuses']:,} messageStatus, "
                         f"{w['accepted']:,} with statusCode 1")
        yield f"{what}: " + "; ".join(parts + row.notes + row.problems)
        if "cpu" in w:
            yield f"  {w['cpu']}"


# --- main ------------------------------------------------------------------------------------------------------------


def require_tools() -> None:
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"  # bearerbox and smsbox live in /usr/sbin
    missing = [tool for tool in ("wrk", "bearerbox", "smsbox") if shutil.which(tool) is None]
    missing += [FAKESMSC] if not os.access(FAKESMSC, os.X_OK) else []
    if not missing:
        return
    command = "apt-get install -y kannel kannel-extras wrk"
    if os.geteuid() != 0:
        raise SystemExit(f"missing: {', '.join(missing)}. Install them from Debian: sudo {command}")
    log(f"missing {', '.join(missing)}: installing kannel, kannel-extras and wrk from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*command.split(), "-q"], check=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run (default 10)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-server", default="postgresql+psycopg://postgres@127.0.0.1:5432",
                        help="where --database postgresql creates its fresh databases (and drops them)")
    args = parser.parse_args()
    if args.seconds < 1:
        parser.error("--seconds wants a positive integer")
    if not (VENV_BIN / "smsgw").exists():
        raise SystemExit(f"{VENV_BIN / 'smsgw'} is missing: run `make .venv/.installed` first")
    require_tools()

    k = kannel_setup()

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    rows: list[Row] = []
    load_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    busy_start = int(captured(helper.cpu, 2, []))
    log(f"load average at start: {load_start}; other processes busy {busy_start}% of one CPU; {os.cpu_count()} CPUs; "
        f"{k.warmup}s warm-up + {args.seconds}s per run; database {args.database}")
    work = Path(tempfile.mkdtemp(prefix="soap_bench."))
    bench = None
    try:
        bench = Bench(args.seconds, args.database, args.pg_server, work, k)
        plan: list[tuple[Row, Callable[[Row], None]]] = [(bench.kannel_row(), bench.run_kannel)]
        for batch, connections in ((1, k.connections), (BATCH, BATCH_CONNECTIONS)):
            for worker in (True, False):
                plan.append((bench.smsgw_row(batch, connections, worker),
                             functools.partial(bench.run_smsgw, worker=worker)))
        for row, run in plan:
            log(f"{row.system}: {row.endpoint}, {row.batch:,} per request")
            try:
                run(row)
            except RuntimeError as error:
                log(f"{row.system}, {row.batch:,} per request: {error}")
                row.wrk, row.why_not = None, str(error).splitlines()[0]
            rows.append(row)
    finally:
        if bench is not None:
            bench.procs.stop_all()
            bench.drop_databases()
        shutil.rmtree(work, ignore_errors=True)
    load_end = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    print()
    print(f"Puzzel SOAP sendMessages against Kannel sendsms: wrk -t{k.threads} keep-alive, {args.seconds}s per row "
          f"after a {k.warmup}s warm-up, every message to its own recipient, 127.0.0.1, {os.cpu_count()} CPUs shared "
          f"by server and wrk; smsgw: granian 2 HTTP workers, {args.database}, SMSGW_SMSC=simulator")
    print()
    for line in table(rows, k.threads):
        print(line)
    print()
    for line in notes(rows):
        print(f"  {line}")
    print("  messages/s = messages answered with statusCode 1 (Kannel: 2xx answers) / measured seconds; the ratio is")
    print("    that over Kannel's. stored/accepted: smsgw rows in messages (Kannel: what fakesmsc received) against")
    print("    the messages accepted, probe and warm-up included; stored may exceed accepted by the requests in")
    print("    flight when wrk stopped. 'with its delivery worker' is how production runs serve: the worker sends")
    print("    every accepted message to the simulator while the load runs, as Kannel's bearerbox sends to fakesmsc.")
    print(f"  load average (1/5/15 min): start {load_start}, end {load_end}; CPU used by other processes in the 2 s "
          f"before the start: {busy_start}% of one CPU")
    if args.database == "postgresql":
        print("  With PostgreSQL, 'everything else' in smsgw's rows includes the PostgreSQL server's processes.")
    counted = [row for row in rows if row.wrk and (args.database == "sqlite" or row.system.startswith("Kannel"))]
    others = [int(m) for row in counted for m in re.findall(r"everything else (\d+)%", (row.wrk or {}).get("cpu", ""))]
    if busy_start > 25 or (others and max(others) > 25):
        print("  WARNING: other processes used the CPUs during the runs: the figures are lower than on a quiet "
              "machine and less reliable; compare within the run, or run again when it is idle.")
    return 1 if any(row.wrk is None or check(row).startswith("FAIL") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
