"""The `smsgw` command: serve, migrate, manage accounts and numbers, send, look at messages, inspect texts, and the
account policy (credit, held messages, suppressions, usage).

Results go to standard output (`send` prints the message id alone); everything else goes to standard error.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import click

from .accounts import SETTINGS, SettingError
from .config import Settings, parse_listen
from .delivery import routes
from .delivery.routes import Router
from .domain import encoding
from .domain.errors import GatewayError
from .domain.model import Account, MessageSpec, MessageView, Status, SubmitRequest
from .domain.numbers import NumberFormat, normalise
from .services import Services
from .store.database import safe_url

log = logging.getLogger("smsgw")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LogFormatter(logging.Formatter):
    """`LOG_FORMAT`'s lines, the text logging's own Formatter makes, with the date and time of each second formatted
    once (the server logs a line per request: hundreds a second, from several threads)."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.default_msec_format is None:
            return super().formatTime(record, datefmt)
        whole = int(record.created)
        second, stamp = self._second
        if second != whole:
            stamp = time.strftime(self.default_time_format, self.converter(whole))
            self._second = (whole, stamp)  # one assignment: a thread reads the old pair or the new one
        return self.default_msec_format % (stamp, record.msecs)


def _serving_logs() -> None:
    """The long-running commands (serve, worker, outbox) log at INFO. Every accepted request is a line there, as
    Kannel logs every sendsms at its default level: operators find a customer's request by it (granian's access log
    is off), so it stays at INFO and is made cheap instead. `LOG_FORMAT` shows no source file, line, function,
    thread or process, so the record is built without looking them up (the logging HOWTO's "Optimization"); with
    the time formatted once a second (`_LogFormatter`) that halves what a line costs."""
    logging.getLogger().setLevel(logging.INFO)
    logging._srcfile = None  # no caller lookup
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _open(ctx: click.Context) -> Services:
    services = _services(ctx.obj.database_url)
    ctx.call_on_close(services.close)
    return services


def _services(url: str) -> Services:
    try:
        return Services.open(url)
    except Exception as error:
        raise click.ClickException(f"cannot open the database {safe_url(url)}: {error}") from None


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_value, ensure_ascii=False))


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@click.group()
@click.option("--database-url", envvar="SMSGW_DATABASE_URL", help="SQLAlchemy URL [default: sqlite:///smsgw.db]")
@click.option("-v", "--verbose", is_flag=True, help="log at DEBUG level")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, verbose: bool) -> None:
    """smsgw: an SMS gateway behind the Puzzel, O2, Modica, OpenMarket and Rapporto interfaces."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter(LOG_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
    try:
        settings = Settings.from_env()
    except ValueError as error:
        raise click.ClickException(f"bad SMSGW_* setting in the environment: {error}") from None
    if database_url:
        settings = Settings(**{**asdict(settings), "database_url": database_url})
    ctx.obj = settings


# --- serve and db ---------------------------------------------------------------------------------------------

def _delivery_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--config", envvar="SMSGW_CONFIG", type=click.Path(exists=True, dir_okay=False),
                        default=None, help="smsgw.toml naming connectors and routes (overrides --smsc) "
                        "[env SMSGW_CONFIG]")(func)
    return click.option("--smsc", envvar="SMSGW_SMSC", default="simulator", show_default=True,
                        help="the one connector: simulator[://?options] or smpp[s]://system_id:password@host:port"
                        "[?options] [env SMSGW_SMSC]")(func)


def _router(smsc: str, config: str | None) -> Router:
    try:
        return routes.load(smsc, config)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--config" if config else "--smsc") from None


THREADS_PER_WORKER = 8  # with TLS, `--workers N` is one process of 8 x N threads (cheroot)


@main.command()
@click.option("--listen", envvar="SMSGW_LISTEN", default="127.0.0.1:8080", show_default=True, help="HOST:PORT")
@click.option("--database-url", envvar="SMSGW_DATABASE_URL", help="overrides the group option")
@_delivery_options
@click.option("--no-worker", is_flag=True, envvar="SMSGW_NO_WORKER",
              help="serve only; run the delivery worker elsewhere (`smsgw worker`) [env SMSGW_NO_WORKER]")
@click.option("--no-outbox", is_flag=True, envvar="SMSGW_NO_OUTBOX",
              help="push no reports from here; run the outbox elsewhere (`smsgw outbox`) [env SMSGW_NO_OUTBOX]")
@click.option("--workers", envvar="SMSGW_WORKERS", default=2, show_default=True, type=click.IntRange(1, 64),
              help=f"HTTP server processes (with TLS: one process, {THREADS_PER_WORKER} threads per worker)")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="serve HTTPS with this PEM certificate (chain), asking clients for a registered certificate "
                   "[env SMSGW_TLS_CERT]")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="the private key of --tls-cert, PEM [env SMSGW_TLS_KEY]")
@click.pass_context
def serve(ctx: click.Context, listen: str, database_url: str | None, smsc: str, config: str | None,
          no_worker: bool, no_outbox: bool, workers: int, tls_cert: str | None, tls_key: str | None) -> None:
    """Run the gateway: migrate an empty database, then serve HTTP with granian, or with --tls-cert and --tls-key
    HTTPS with client certificates (cheroot); beside it, unless told not to, a delivery worker and the outbox that
    pushes reports to customers."""
    settings: Settings = ctx.obj
    url = database_url or settings.database_url
    tls_cert, tls_key = tls_cert or settings.tls_cert, tls_key or settings.tls_key
    try:
        host, port = parse_listen(listen)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--listen") from None
    _router(smsc, config)  # a bad connector setting stops us here, not in the worker
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key (SMSGW_TLS_CERT, SMSGW_TLS_KEY) go together")
    _serving_logs()
    try:
        socket.create_server((host, port)).close()
    except OSError as error:
        raise click.ClickException(f"cannot listen on {listen}: {error.strerror or error}") from None
    _services(url).close()  # migrates once here, before the server and worker processes start
    beside = [] if no_worker else [_start_beside(url, "worker", "--smsc", smsc, *(["--config", config] if config
                                                                                 else []))]
    if not no_outbox:
        beside.append(_start_beside(url, "outbox"))
    try:
        if tls_cert and tls_key:
            _serve_tls(settings, url, (host, port), tls_cert, tls_key, workers * THREADS_PER_WORKER)
        else:
            _serve_granian(url, listen, (host, port), smsc, workers)
    finally:
        for process in beside:
            process.terminate()
        for process in beside:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _start_beside(url: str, command: str, *args: str) -> subprocess.Popen[bytes]:
    """A command (the delivery worker, the outbox) as a process of its own beside the server's; it leaves when
    this process does."""
    return subprocess.Popen([sys.executable, "-c", "from smsgw.cli import main; main()", "--database-url", url,
                             command, *args, "--exit-with-parent"])


def _run_until_signalled(exit_with_parent: bool, body: Callable[[Any], Awaitable[None]], *,
                         uvloop: bool = False) -> None:
    """Run `body(stop)` on an event loop until SIGTERM or SIGINT (or, with `exit_with_parent`, until the process
    that started this one is gone); on uvloop's when asked and installed (the outbox: its loop is its CPU)."""
    import asyncio

    parent = os.getppid()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        async def watch() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1)
            stop.set()

        watcher = asyncio.create_task(watch()) if exit_with_parent else None
        await body(stop)
        if watcher is not None:
            watcher.cancel()

    if uvloop:
        try:
            import uvloop as fast
        except ImportError:
            pass
        else:
            fast.run(run())
            return
    asyncio.run(run())


def _serve_granian(url: str, listen: str, address: tuple[str, int], smsc: str, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    host, port = address
    os.environ.update(SMSGW_DATABASE_URL=url, SMSGW_LISTEN=listen, SMSGW_SMSC=smsc)
    click.echo(f"smsgw serving on http://{host}:{port} ({workers} HTTP process{'es' if workers > 1 else ''}, "
               f"database {safe_url(url)})", err=True)
    # Threads per worker: 4. With 16 clients on 2 workers, 8 served 5-10 % more requests per second (more requests
    # share each group commit), but under load a worker with 8 then sometimes failed to stop within 10 s of SIGTERM;
    # 1 and 2 were no faster than 4. A stuck request cannot hold a shutdown forever (workers_kill_timeout).
    Granian("smsgw.app:create_app", address=host, port=port, interface=Interfaces.WSGI, workers=workers,
            blocking_threads=4, backpressure=16, workers_kill_timeout=30, factory=True, log_access=False).serve()


def _serve_tls(settings: Settings, url: str, address: tuple[str, int], cert: str, key: str, threads: int) -> None:
    """One process, a pool of threads: granian cannot pass a client certificate to the app (see tls.py)."""
    from .app import App
    from .tls import HTTPSServer

    services = _services(url)
    try:
        try:
            server = HTTPSServer(App(services, settings), services.store, address, cert, key, threads=threads)
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            raise click.ClickException(f"cannot serve TLS with {cert} and {key}: {error}") from None
        click.echo(f"smsgw serving on https://{address[0]}:{address[1]} (TLS with client certificates, {threads} "
                   f"threads, database {safe_url(url)})", err=True)
        server.serve_until_signalled()
    finally:
        services.close()


@main.command()
@_delivery_options
@click.option("--chunk", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="messages claimed at a time")
@click.option("--claim-timeout", default=120, show_default=True, type=click.IntRange(1, 3600),
              help="seconds a claimed message stays with this worker; if it dies, others take it after that")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
@click.pass_context
def worker(ctx: click.Context, smsc: str, config: str | None, chunk: int, claim_timeout: int,
           exit_with_parent: bool) -> None:
    """Run the delivery worker alone: send due messages through the connectors, take receipts and MOs in.

    On SQLite only one worker works at a time (the others wait for its lease); on PostgreSQL run as many as you
    like, on any number of machines."""
    from .delivery.worker import Worker

    router = _router(smsc, config)
    _serving_logs()
    # The database thread holds the write lock while it waits for the interpreter lock; the SMPP loop must hand
    # that over quickly (the default 5 ms would stall every other writer of a SQLite file for as long).
    sys.setswitchinterval(0.0005)
    services = _open(ctx)

    async def run(stop: Any) -> None:
        work = Worker(services.store, services.gateway, router, chunk=chunk, claim_ms=claim_timeout * 1000)
        click.echo(f"smsgw worker {work.name}: connectors {', '.join(c.name for c in router.all())}", err=True)
        await work.run(stop)

    _run_until_signalled(exit_with_parent, run)


@main.command()
@click.option("--exit-with-parent", is_flag=True, hidden=True)
@click.pass_context
def outbox(ctx: click.Context, exit_with_parent: bool) -> None:
    """Run the outbox alone: push delivery reports and inbound messages to the accounts' URLs, in their formats.

    Any number may run, on SQLite or PostgreSQL: each report is claimed by one of them at a time."""
    from .reports.outbox import Outbox

    _serving_logs()
    sys.setswitchinterval(0.0005)  # as for the worker: the database thread holds the write lock
    services = _open(ctx)

    async def run(stop: Any) -> None:
        click.echo("smsgw outbox: pushing reports", err=True)
        await Outbox(services.store, services.gateway).run(stop)

    _run_until_signalled(exit_with_parent, run, uvloop=True)


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="the dead-lettered reports (retention ran out) instead of waiting ones")
@click.option("--account", "account_name", default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reports(ctx: click.Context, failed: bool, account_name: str | None, limit: int, as_json: bool) -> None:
    """Pushed reports still waiting to be acknowledged (or, with --failed, given up on), newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from .store import outbox as outbox_rows

    services = _open(ctx)
    account_id = _account_id(services, account_name)
    with services.store.read() as conn:
        found = outbox_rows.listed(conn, failed=failed, account_id=account_id, limit=limit)
    data = [{"id": r.id, "account": r.account, "kind": r.kind, "message_id": r.message_id,
             "inbound_id": r.inbound_id, "status": r.status, "attempts": r.attempts,
             "next_attempt_at": _when(r.next_attempt_at), "last_error": r.last_error,
             "created_at": _when(r.created_at), "retain_until": _when(r.retain_until)} for r in found]
    if as_json:
        _print_json(data)
        return
    click.echo(f"{'ID':<20} {'ACCOUNT':<16} {'KIND':<4} {'ABOUT':<20} {'STATUS':<13} {'TRIES':>5}  LAST ERROR")
    for d in data:
        about = d["message_id"] if d["message_id"] is not None else d["inbound_id"]
        click.echo(f"{d['id']:<20} {d['account']:<16} {d['kind']:<4} {about!s:<20} {d['status'] or '':<13} "
                   f"{d['attempts']:>5}  {d['last_error'] or ''}")


@reports.command("resend")
@click.argument("report_ids", nargs=-1, type=int)
@click.option("--account", "account_name", default=None, help="only this account's dead reports")
@click.option("--all", "everything", is_flag=True, help="every dead report (of --account, if given)")
@click.pass_context
def reports_resend(ctx: click.Context, report_ids: tuple[int, ...], account_name: str | None,
                   everything: bool) -> None:
    """Put dead-lettered reports back in the outbox, with a fresh retention."""
    from .store import outbox as outbox_rows
    from .store.ids import now_ms

    if bool(report_ids) == everything:
        _fail("name the reports to resend, or give --all")
    services = _open(ctx)
    account_id = _account_id(services, account_name)
    with services.store.write() as conn:
        count = outbox_rows.resend(conn, now_ms(), ids=list(report_ids) or None, account_id=account_id)
    click.echo(f"{count} report{'' if count == 1 else 's'} back in the outbox", err=True)


def _account(services: Services, name: str) -> Account:
    try:
        return services.accounts.get(name)
    except GatewayError as error:
        _fail(error.detail)
        raise


def _account_id(services: Services, name: str | None) -> int | None:
    return None if name is None else _account(services, name).id


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000).astimezone()


@main.command()
@_delivery_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def connectors(ctx: click.Context, smsc: str, config: str | None, as_json: bool) -> None:
    """The configured connectors and routes, and what each worker last reported about its connections."""
    from .store import queue

    router = _router(smsc, config)
    with _open(ctx).store.read() as conn:
        states = queue.connector_state_rows(conn)
    data: dict[str, list[dict[str, Any]]] = {
        "connectors": [{"name": c.name, "kind": c.state().kind} for c in router.all()],
        "routes": [{"prefix": r.prefix, "connectors": list(r.connectors)} for r in router.routes],
        "workers": [{"worker": r.worker, "connector": r.connector, "updated_at": _json_value(
            datetime.fromtimestamp(r.updated_at / 1000).astimezone()), **r.state} for r in states],
    }
    if as_json:
        _print_json(data)
        return
    for c in data["connectors"]:
        click.echo(f"connector {c['name']} ({c['kind']})")
    for r in data["routes"]:
        click.echo(f"route {r['prefix'] or '(any)'} -> {', '.join(r['connectors'])}")
    for w in data["workers"]:
        click.echo(f"worker {w['worker']} {w['connector']}: {'bound' if w['bound'] else 'not bound'}, "
                   f"{w['in_flight']}/{w['window']} in flight, {w['submitted']} submitted, {w['errors']} errors"
                   + (f" (last: {w['last_error']})" if w["last_error"] else "") + f", at {w['updated_at']}")


@main.group()
def simulate() -> None:
    """Pretend to be the network."""


@simulate.command("mo")
@click.option("--from", "originator", required=True, help="the phone's number")
@click.option("--to", "destination", required=True, help="the number the phone wrote to (an account's number)")
@click.option("--text", required=True)
@click.pass_context
def simulate_mo(ctx: click.Context, originator: str, destination: str, text: str) -> None:
    """An MO as if an SMSC had delivered it: stored, routed to the account that owns the number, reported."""
    mo = _open(ctx).gateway.ingest_mo(originator, destination, text=text,
                                      enc=encoding.Encoding.GSM7 if encoding.gsm_septets(text) is not None
                                      else encoding.Encoding.UCS2)
    click.echo(str(mo.id))
    if mo.account_id is None:
        click.echo(f"no account owns {mo.destination}; the MO is kept unrouted", err=True)


@main.group()
def db() -> None:
    """The database schema."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Migrate the schema to the newest revision (safe to run while others do)."""
    from .store.database import Store

    try:
        store = Store(ctx.obj.database_url)
        store.migrate()
    except Exception as error:
        raise click.ClickException(f"cannot migrate {safe_url(ctx.obj.database_url)}: {error}") from None
    store.dispose()
    click.echo("database is at the newest revision", err=True)


# --- accounts and numbers -------------------------------------------------------------------------------------


def _setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for name, (_, help_text) in reversed(list(SETTINGS.items())):
        func = click.option(f"--{name.replace('_', '-')}", name, default=None, help=help_text)(func)
    return func


def _settings(raw: dict[str, str | None]) -> dict[str, Any]:
    from .accounts import parse_settings

    try:
        return parse_settings({k: v for k, v in raw.items() if v is not None})
    except SettingError as error:
        raise click.ClickException(str(error)) from None


def _account_dict(account: Account, numbers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    data = {k: v for k, v in asdict(account).items() if k != "password_hash"}
    data["report_secret"] = "(set)" if account.report_secret else None  # a secret is never shown back
    data["numbers"] = [{"number": n, "keyword": k or None} for n, k in numbers]
    return data


@main.group()
def account() -> None:
    """Customer accounts."""


@account.command("add")
@click.argument("name")
@click.option("--password", required=True)
@click.option("--id", "account_id", type=click.IntRange(1, 2**63 - 1), help="numeric id (O2 baID) [default: next]")
@_setting_options
@click.pass_context
def account_add(ctx: click.Context, /, name: str, password: str, account_id: int | None, **raw: str | None) -> None:
    """Create an account."""
    services = _open(ctx)
    try:
        created = services.accounts.create(name, password, account_id, **_settings(raw))
    except (SettingError, GatewayError) as error:
        _fail(str(error))
    click.echo(f"account {created.name} created with id {created.id}", err=True)


@account.command("set")
@click.argument("name")
@click.option("--password", default=None, help="a new password")
@_setting_options
@click.pass_context
def account_set(ctx: click.Context, /, name: str, password: str | None, **raw: str | None) -> None:
    """Change an account's settings."""
    services = _open(ctx)
    try:
        services.accounts.update(name, password, **_settings(raw))
    except (SettingError, GatewayError) as error:
        _fail(str(error))
    click.echo(f"account {name} updated", err=True)


@account.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def account_list(ctx: click.Context, as_json: bool) -> None:
    """All accounts."""
    found = _open(ctx).accounts.all()
    if as_json:
        _print_json([{"id": a.id, "name": a.name, "active": a.active} for a in found])
        return
    click.echo(f"{'ID':>8}  {'NAME':<24} ACTIVE")
    for a in found:
        click.echo(f"{a.id:>8}  {a.name:<24} {'yes' if a.active else 'no'}")


@account.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def account_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One account's settings and numbers."""
    services = _open(ctx)
    try:
        acct = services.accounts.get(name)
        data = _account_dict(acct, services.accounts.numbers(name))
    except GatewayError as error:
        _fail(error.detail)
    # The balance only means something while credit is enforced; the key is always there (null otherwise).
    balance = services.gateway.balance(acct) if acct.credit_mode != "none" else None
    data = {**{k: v for k, v in data.items() if k != "numbers"}, "balance": balance, "numbers": data["numbers"]}
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        if key == "numbers":
            value = ", ".join(f"{n['number']}" + (f" ({n['keyword']})" if n["keyword"] else "") for n in value)
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        click.echo(f"{key:<24} {'' if value is None else value}")


MAX_CREDIT = 10**15  # per top-up: far above any real one, far below the 64-bit balance column
_AMOUNT = re.compile(r"[+-]?[0-9]+")


@account.command("credit", context_settings={"ignore_unknown_options": True})  # lets `-20` be an argument
@click.argument("name")
@click.argument("amount")
@click.pass_context
def account_credit(ctx: click.Context, name: str, amount: str) -> None:
    """Top up (+500, 100) or take from (-20) account NAME's prepaid balance; prints the new balance."""
    if not _AMOUNT.fullmatch(amount.strip()):
        _fail(f"AMOUNT is a whole number of credit units, like +500, 100 or -20; got {amount!r}")
    change = int(amount)
    if change == 0:
        _fail("AMOUNT 0 changes nothing")
    if abs(change) > MAX_CREDIT:
        _fail(f"AMOUNT is at most {MAX_CREDIT:,} either way")
    services = _open(ctx)
    acct = _account(services, name)
    left = services.gateway.credit(acct, change)
    click.echo(str(left))
    click.echo(f"account {name}: {change:+d}, balance {left}", err=True)
    if acct.credit_mode == "none":
        click.echo(f"note: credit is not enforced while account {name}'s credit_mode is none (set it with "
                   f"`smsgw account set {name} --credit-mode messages` or `currency`)", err=True)
    elif left < 0:
        click.echo(f"note: the balance is negative; account {name}'s messages are refused until it is topped up",
                   err=True)


@main.group()
def number() -> None:
    """Numbers an account owns (MOs to them are routed to it)."""


@number.command("add")
@click.argument("name")
@click.argument("msisdn")
@click.option("--keyword", default=None, help="only MOs whose first word is this")
@click.pass_context
def number_add(ctx: click.Context, name: str, msisdn: str, keyword: str | None) -> None:
    """Give account NAME the number MSISDN (E.164 or a short code)."""
    try:
        owned, word = _open(ctx).accounts.add_number(name, msisdn, keyword)
    except (SettingError, GatewayError) as error:
        _fail(str(error))
    click.echo(f"{owned}{' ' + word if word else ''} now routes to {name}", err=True)


@main.group()
def cert() -> None:
    """Client certificates an account is known by (O2 identifies callers by certificate)."""


@cert.command("add")
@click.argument("name")
@click.argument("file", type=click.File("rb"))
@click.pass_context
def cert_add(ctx: click.Context, name: str, file: BinaryIO) -> None:
    """Register the client certificate in FILE (PEM or DER; - for stdin) on account NAME: prints its fingerprint.

    A running `smsgw serve --tls-cert` trusts it for new connections within seconds."""
    try:
        fingerprint, changed = _open(ctx).accounts.add_certificate(name, file.read())
    except (SettingError, GatewayError) as error:
        _fail(str(error))
    click.echo(fingerprint)
    click.echo(f"certificate {'registered on' if changed else 'was already registered on'} {name}", err=True)


@cert.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cert_list(ctx: click.Context, name: str, as_json: bool) -> None:
    """Account NAME's certificate fingerprints (SHA-256), with when each certificate was added."""
    try:
        found = _open(ctx).accounts.certificates(name)
    except GatewayError as error:
        _fail(error.detail)
    if as_json:
        _print_json([{"fingerprint": fp, "added_at": added, "certificate_stored": added is not None}
                     for fp, added in found])
        return
    click.echo(f"{'FINGERPRINT (SHA-256)':<64}  ADDED (UTC)")
    for fp, added in found:
        click.echo(f"{fp}  {f'{added:%Y-%m-%d %H:%M:%S}' if added else 'fingerprint only: not trusted by --tls-cert'}")


@cert.command("remove")
@click.argument("name")
@click.argument("fingerprint")
@click.pass_context
def cert_remove(ctx: click.Context, name: str, fingerprint: str) -> None:
    """Stop trusting the certificate with FINGERPRINT (SHA-256, any spelling) for account NAME."""
    try:
        _open(ctx).accounts.remove_certificate(name, fingerprint)
    except (SettingError, GatewayError) as error:
        _fail(str(error))
    click.echo(f"certificate removed from {name}", err=True)


# --- messages -------------------------------------------------------------------------------------------------


@main.command()
@click.option("--account", "account_name", required=True)
@click.option("--to", "recipient", required=True)
@click.option("--text", required=True)
@click.option("--from", "originator", default=None)
@click.pass_context
def send(ctx: click.Context, account_name: str, recipient: str, text: str, originator: str | None) -> None:
    """Send one SMS through the gateway; prints its message id."""
    services = _open(ctx)
    try:
        acct = services.accounts.get(account_name)
    except GatewayError as error:
        _fail(error.detail)
    assumption = NumberFormat.NATIONAL if acct.default_country else NumberFormat.INTERNATIONAL
    request = SubmitRequest([MessageSpec(recipient=recipient, text=text, originator=originator)],
                            number_format=assumption, face="cli")
    try:
        outcome = services.gateway.submit(acct, request).outcomes[0]
    except GatewayError as error:
        _fail(error.detail)
    if outcome.error is not None:
        _fail(f"refused: {outcome.error.detail}")
    click.echo(str(outcome.message_id))
    click.echo(f"{outcome.status} to {outcome.recipient}: {outcome.parts} part(s), {outcome.encoding}", err=True)


def _view_dict(view: MessageView) -> dict[str, Any]:
    data = asdict(view)
    data["payload"] = view.payload.hex() if view.payload is not None else None
    return data


@main.command()
@click.argument("message_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, message_id: int, as_json: bool) -> None:
    """One message's status and history."""
    services = _open(ctx)
    try:
        view = services.gateway.status(message_id)
        steps = services.gateway.history(message_id)
    except GatewayError as error:
        _fail(error.detail)
    data = _view_dict(view)
    data["history"] = [{"status": s.value, "at": at.isoformat(), "error_code": e} for s, at, e in steps]
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        if key != "history":
            click.echo(f"{key:<16} {'' if value is None else value}")
    for step in data["history"]:
        click.echo(f"  {step['at']}  {step['status']}{'  ' + step['error_code'] if step['error_code'] else ''}")


@main.command()
@click.option("--account", "account_name", default=None)
@click.option("--status", "status_name", type=click.Choice([s.value for s in Status]), default=None)
@click.option("--to", "recipient", default=None, help="recipient, as E.164")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def messages(ctx: click.Context, account_name: str | None, status_name: str | None, recipient: str | None,
             limit: int, as_json: bool) -> None:
    """Recent messages, newest first."""
    services = _open(ctx)
    try:
        acct = services.accounts.get(account_name) if account_name else None
        if recipient is not None:  # read the number the way `send` does
            recipient = normalise(recipient, NumberFormat.NATIONAL if acct and acct.default_country
                                  else NumberFormat.INTERNATIONAL, acct.default_country if acct else None)
    except GatewayError as error:
        _fail(error.detail)
    found = services.gateway.messages(account=acct, status=Status(status_name) if status_name else None,
                                      recipient=recipient, limit=limit)
    if as_json:
        _print_json([_view_dict(v) for v in found])
        return
    click.echo(f"{'ID':<20} {'CREATED (UTC)':<19} {'ACCOUNT':>7} {'TO':<16} {'STATUS':<13} {'PARTS':>5}  TEXT")
    for v in found:
        text = (v.text or (v.payload or b"").hex())[:40]
        click.echo(f"{v.id:<20} {v.created_at:%Y-%m-%d %H:%M:%S} {v.account_id:>7} {v.recipient:<16} "
                   f"{v.status.value:<13} {v.parts:>5}  {text}")


@main.command()
@click.argument("text")
@click.option("--parsing-type", type=click.Choice([t.value for t in encoding.ParsingType], case_sensitive=False),
              default=encoding.ParsingType.AUTO_DETECT.value, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def inspect(text: str, parsing_type: str, as_json: bool) -> None:
    """How TEXT would be sent: encoding, parts, characters that force UCS-2 or would be dropped."""
    try:
        prepared = encoding.prepare_text(text, encoding.ParsingType(parsing_type.upper()), None)
    except GatewayError as error:
        if as_json:
            _print_json({"accepted": False, "error": error.code.value, "detail": error.detail})
            sys.exit(1)
        _fail(error.detail)
    data = {
        "accepted": True,
        "encoding": prepared.encoding.value,
        "parts": prepared.parts,
        "units": prepared.units,
        "text": prepared.text,
        "non_gsm": list(prepared.non_gsm),
        "removed": list(prepared.removed),
        "replaced": [list(pair) for pair in prepared.replaced],
    }
    if as_json:
        _print_json(data)
        return
    unit = {"gsm7": "septets", "ucs2": "UTF-16 units", "binary": "octets"}[prepared.encoding.value]
    click.echo(f"encoding   {prepared.encoding.value}")
    click.echo(f"length     {prepared.units} {unit}")
    click.echo(f"parts      {prepared.parts}")
    if prepared.non_gsm:
        verb = "force UCS-2" if prepared.encoding is encoding.Encoding.UCS2 else "are not GSM"
        click.echo(f"non-GSM    {' '.join(prepared.non_gsm)}  ({verb})")
    if prepared.removed:
        click.echo(f"dropped    {' '.join(prepared.removed)}")
    if prepared.replaced:
        click.echo(f"replaced   {'  '.join(f'{a}→{b}' for a, b in prepared.replaced)}")
    if prepared.text != text:
        click.echo(f"sent as    {prepared.text}")


# --- account policy: held messages, suppressions, usage -------------------------------------------------------


@main.group()
def held() -> None:
    """Messages held over an account's per-recipient quota (--recipient-quota), waiting for an operator."""


@held.command("list")
@click.option("--account", "account_name", default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def held_list(ctx: click.Context, account_name: str | None, limit: int, as_json: bool) -> None:
    """Held messages, newest first."""
    services = _open(ctx)
    acct = _account(services, account_name) if account_name else None
    found = services.gateway.messages(account=acct, status=Status.HELD, limit=limit)
    if as_json:
        _print_json([_view_dict(v) for v in found])
        return
    click.echo(f"{'ID':<20} {'CREATED (UTC)':<19} {'ACCOUNT':>7} {'TO':<16} {'PARTS':>5}  TEXT")
    for v in found:
        text = (v.text or (v.payload or b"").hex())[:40]
        click.echo(f"{v.id:<20} {v.created_at:%Y-%m-%d %H:%M:%S} {v.account_id:>7} {v.recipient:<16} {v.parts:>5}  "
                   f"{text}")


def _held_command(verb: str, doc: str) -> Callable[..., None]:
    @click.argument("message_ids", nargs=-1, type=click.IntRange(1, 2**63 - 1))
    @click.option("--account", "account_name", default=None, help="only this account's held messages")
    @click.option("--all", "everything", is_flag=True, help="every held message (of --account, if given)")
    @click.pass_context
    def command(ctx: click.Context, message_ids: tuple[int, ...], account_name: str | None, everything: bool) -> None:
        if bool(message_ids) == everything:
            _fail(f"name the held messages to {verb}, or give --all" + (", not both" if everything else ""))
        services = _open(ctx)
        acct = _account(services, account_name) if account_name else None
        act = services.gateway.release_held if verb == "release" else services.gateway.drop_held
        if message_ids:
            count = act(account=acct, ids=sorted(set(message_ids)))
        else:  # one transaction per pass of the store's limit, until none is left
            count = 0
            while done := act(account=acct):
                count += done
        past = "released" if verb == "release" else "dropped"
        click.echo(f"{count} held message{'' if count == 1 else 's'} {past}", err=True)
        missed = len(set(message_ids)) - count
        if missed > 0:
            click.echo(f"{missed} of the named messages {'was' if missed == 1 else 'were'} not held"
                       f"{' for account ' + account_name if account_name else ''} (unknown, or no longer held)",
                       err=True)

    command.__doc__ = doc
    return command


held.command("release")(_held_command(
    "release", "Let held messages go: due now (or at their send-at), or expired if their validity has passed."))
held.command("drop")(_held_command(
    "drop", "Cancel held messages: their DR says cancelled, and their credit is refunded."))


@main.group()
def suppression() -> None:
    """Numbers an account may not send to: opted out by STOP, barred by the network, or added by an operator."""


@suppression.command("list")
@click.option("--account", "account_name", required=True)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def suppression_list(ctx: click.Context, account_name: str, limit: int, as_json: bool) -> None:
    """The account's suppressed numbers, newest first, with why and since when."""
    services = _open(ctx)
    found = services.gateway.suppressions(_account(services, account_name), limit)
    if as_json:
        _print_json([{"number": n, "reason": reason, "since": since} for n, reason, since in found])
        return
    click.echo(f"{'NUMBER':<16} {'REASON':<9} SINCE (UTC)")
    for n, reason, since in found:
        click.echo(f"{n:<16} {reason:<9} {since:%Y-%m-%d %H:%M:%S}")


@suppression.command("add")
@click.option("--account", "account_name", required=True)
@click.argument("numbers", nargs=-1, required=True)
@click.pass_context
def suppression_add(ctx: click.Context, account_name: str, numbers: tuple[str, ...]) -> None:
    """Stop the account sending to NUMBERS (international with + or 00, else national in its country)."""
    services = _open(ctx)
    acct = _account(services, account_name)
    try:
        added = services.gateway.suppress(acct, numbers)
    except GatewayError as error:
        _fail(f"{error.detail}; nothing was changed")
    for n in dict.fromkeys(added):
        click.echo(f"{n} suppressed for {account_name}", err=True)


@suppression.command("remove")
@click.option("--account", "account_name", required=True)
@click.argument("numbers", nargs=-1, required=True)
@click.pass_context
def suppression_remove(ctx: click.Context, account_name: str, numbers: tuple[str, ...]) -> None:
    """Let the account send to NUMBERS again (as a START from the phone would)."""
    services = _open(ctx)
    acct = _account(services, account_name)
    try:
        removed = services.gateway.unsuppress(acct, numbers)
    except GatewayError as error:
        _fail(f"{error.detail}; nothing was changed")
    click.echo(f"{removed} number{'' if removed == 1 else 's'} removed from {account_name}'s suppressions", err=True)


USAGE_COLUMNS = ("day", "messages", "segments", "delivered", "failed", "credit")


@main.command()
@click.option("--account", "account_name", required=True)
@click.option("--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="first UTC day, YYYY-MM-DD")
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="last UTC day (included), YYYY-MM-DD")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row instead of a table")
@click.pass_context
def usage(ctx: click.Context, account_name: str, first: datetime, last: datetime, as_csv: bool) -> None:
    """An account's traffic per UTC day from --from to --to, days with messages only: messages, SMS parts,
    delivered, failed (undeliverable, expired, rejected or failed) and credit used (charged and not refunded)."""
    if first > last:
        _fail(f"--from {first:%Y-%m-%d} is after --to {last:%Y-%m-%d}")
    services = _open(ctx)
    found = services.gateway.usage(_account(services, account_name), first.replace(tzinfo=UTC),
                                   last.replace(tzinfo=UTC) + timedelta(days=1))  # the end is exclusive
    rows = [(u.day, u.messages, u.segments, u.delivered, u.failed, u.credit) for u in found]
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(USAGE_COLUMNS)
        writer.writerows(rows)
        return
    line = "{:<10} {:>10} {:>10} {:>10} {:>10} {:>12}"
    click.echo(line.format(*(c.upper() for c in USAGE_COLUMNS)))
    for row in rows:
        click.echo(line.format(*row))
    click.echo(line.format("total", *(sum(getattr(u, c) for u in found) for c in USAGE_COLUMNS[1:])))
