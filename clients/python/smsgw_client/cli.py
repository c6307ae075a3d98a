"""`smsgw-client`: `doctor URL` says what is wrong with a connection to an smsgw; `send` sends one text message.

The account, password and URL may come from SMSGW_ACCOUNT, SMSGW_PASSWORD and SMSGW_URL instead of options (a
password in the environment is not shown by `ps`, as one on the command line is).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .client import SmsgwClient
from .doctor import DEFAULT_TIMEOUT, Settings, run
from .errors import InvalidRequest, MessageRefused, RateLimited, SmsgwError, SoapFault


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.key and not args.cert:
        parser.error("--key needs --cert")
    if args.command == "doctor":
        if bool(args.account) != (args.password is not None):
            parser.error("give --account and --password together (or SMSGW_ACCOUNT and SMSGW_PASSWORD)")
        return run(Settings(args.url, args.account, args.password, args.ca, args.cert, args.key, args.timeout),
                   sys.stdout)
    return _send(parser, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsgw-client", description="A client for smsgw: `doctor URL` says what is wrong with a connection to "
                                         "a server, `send` sends one text message.",
        epilog="SMSGW_URL, SMSGW_ACCOUNT and SMSGW_PASSWORD stand for --url, --account and --password.")
    parser.add_argument("--version", action="version", version=f"smsgw-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def connection(command: argparse.ArgumentParser) -> None:
        command.add_argument("--account", default=os.environ.get("SMSGW_ACCOUNT"),
                             help="the account's name (default: $SMSGW_ACCOUNT)")
        command.add_argument("--password", default=os.environ.get("SMSGW_PASSWORD"),
                             help="its password (default: $SMSGW_PASSWORD, which ps does not show)")
        command.add_argument("--ca", metavar="FILE",
                             help="CA certificates (PEM) to trust the server's certificate by, instead of the "
                                  "system's store (for a self-signed one: the server's certificate itself)")
        command.add_argument("--cert", metavar="FILE", help="a client certificate (PEM; may hold the key too)")
        command.add_argument("--key", metavar="FILE", help="the client certificate's private key (PEM)")
        command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                             help=f"for each connection and request (default {DEFAULT_TIMEOUT:g})")

    doctor = commands.add_parser(
        "doctor", help="check the connection, TLS, certificates, WSDL and credentials, and say what is wrong",
        description="Checks, in order: the name and TCP connection; for https the TLS handshake, the server's "
                    "certificate (trust, name, dates) and the client certificate (files, dates, whether the server "
                    "accepts it); HTTP; the WSDL; the credentials. Exit status 0 when nothing FAILs.")
    doctor.add_argument("url", metavar="URL", help="the server's base URL, e.g. https://sms.example.com:8443")
    connection(doctor)

    send = commands.add_parser("send", help="send one text message", description="Send one text message with the "
                               "native API; prints its id and status.")
    send.add_argument("--url", default=os.environ.get("SMSGW_URL"),
                      help="the server's base URL (default: $SMSGW_URL)")
    connection(send)
    send.add_argument("--to", required=True, metavar="NUMBER", help="the recipient, e.g. +4741000000")
    send.add_argument("--text", required=True)
    send.add_argument("--from", dest="originator", metavar="ORIGINATOR", help="the sender shown to the recipient")
    send.add_argument("--reference", metavar="REF", help="your reference for the message (its client reference)")
    return parser


def _send(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    missing = [name for name, value in (("--url", args.url), ("--account", args.account),
                                        ("--password", args.password)) if not value]
    if missing:
        parser.error(f"send needs {', '.join(missing)} (or SMSGW_URL, SMSGW_ACCOUNT, SMSGW_PASSWORD)")
    cert = (args.cert, args.key) if args.cert and args.key else args.cert
    with SmsgwClient(args.url, args.account, args.password, verify=args.ca or True, cert=cert,
                     timeout=args.timeout) as client:
        try:
            result = client.send_text(args.to, args.text, originator=args.originator,
                                      client_reference=args.reference)
        except SmsgwError as error:
            print(f"smsgw-client: {_explain(error)}", file=sys.stderr)
            return 1
    parts = f"{result.segments} SMS" if result.segments == 1 else f"{result.segments} SMS parts"
    print(f"{result.status.value}: message {result.message_id} to {result.recipient} ({parts})")
    return 0


def _explain(error: SmsgwError) -> str:
    if isinstance(error, RateLimited):
        return f"rate limited: {error.text}; send again in {error.retry_after} s"
    if isinstance(error, MessageRefused | InvalidRequest):
        return f"refused ({error.code}): {error.text}"
    if isinstance(error, SoapFault):
        return f"{type(error).__name__}: {error.text}"
    return f"{error} (run `smsgw-client doctor URL` to see why)"


if __name__ == "__main__":
    raise SystemExit(main())
