"""Which connector carries a message: connectors by name, routes by destination prefix, failover order.

`SMSGW_SMSC` names one connector (`simulator`, `simulator://?…`, `smpp://…`, `smpps://…`), called `default`. More
are named in a TOML file (path from `SMSGW_CONFIG`):

    [connectors.telia]
    url = "smpp://gw:secret@smsc.telia.example:2775?window=10"
    [connectors.backup]
    url = "smpps://gw:secret@smsc.backup.example:3550"

    [[routes]]
    prefix = "+47"                       # the longest matching prefix wins
    connectors = ["telia", "backup"]     # in failover order: the first one that is bound

    [[routes]]
    prefix = ""                          # everything else
    connectors = ["backup"]

Without routes, every connector serves every destination, in the order the file names them. Messages of accounts
in test mode go to a simulator, never to a real SMSC, whatever the routes say.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .connectors.base import Connector
from .connectors.simulator import SimulatorConnector

TEST_CONNECTOR = "test-simulator"


def connector_from_url(name: str, url: str) -> Connector:
    if url == "simulator" or url.startswith("simulator:"):
        return SimulatorConnector.from_url(name, url)
    if url.startswith(("smpp://", "smpps://")):
        from .connectors.smpp import SmppConnector

        return SmppConnector.from_url(name, url)
    raise ValueError(f"connector {name}: unknown kind of URL {url.split('://')[0]!r} "
                     "(simulator, smpp://system_id:password@host:port or smpps://…)")


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str  # "+47", "" for any
    connectors: tuple[str, ...]


class Router:
    def __init__(self, connectors: Mapping[str, Connector], routes: list[Route]) -> None:
        if not connectors:
            raise ValueError("no connector configured")
        self.connectors = dict(connectors)
        for route in routes:
            unknown = [n for n in route.connectors if n not in self.connectors]
            if unknown:
                raise ValueError(f"route {route.prefix!r} names unknown connector(s) {', '.join(unknown)}")
            if not route.connectors:
                raise ValueError(f"route {route.prefix!r} names no connector")
        # Longest prefix first; without routes, every connector for everything.
        self.routes = sorted(routes, key=lambda r: -len(r.prefix)) or [Route("", tuple(self.connectors))]
        self.test = SimulatorConnector(TEST_CONNECTOR, delay=1.0)

    def all(self) -> list[Connector]:
        return [*self.connectors.values(), self.test]

    def bound(self) -> dict[str, bool]:
        """Which connectors have a link now (asked once per chunk: a connector's state is not free to build)."""
        return {c.name: c.state().bound for c in self.all()}

    def pick(self, recipient: str, test_mode: bool, bound: Mapping[str, bool]) -> Connector | None:
        """The connector for a message: the first bound one of its route (else the route's first, whose link may
        come back), the test simulator for test accounts, None when no route covers the number."""
        if test_mode:
            return self.test
        for route in self.routes:
            if recipient.startswith(route.prefix) or recipient.lstrip("+").startswith(route.prefix.lstrip("+")):
                return self.connectors[next((n for n in route.connectors if bound.get(n)), route.connectors[0])]
        return None


def load(smsc: str, config_path: str | None) -> Router:
    """The router from `SMSGW_SMSC` alone, or from the config file when one is given."""
    if not config_path:
        return Router({"default": connector_from_url("default", smsc)}, [])
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {config_path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{config_path}: {error}") from None
    return _from_config(data, config_path)


def _from_config(data: Mapping[str, Any], where: str) -> Router:
    unknown = sorted(set(data) - {"connectors", "routes"})
    if unknown:
        raise ValueError(f"{where}: unknown section(s) {', '.join(unknown)}")
    sections = data.get("connectors")
    if not isinstance(sections, dict) or not sections:
        raise ValueError(f"{where}: no [connectors.NAME] section")
    connectors: dict[str, Connector] = {}
    for name, section in sections.items():
        if not isinstance(section, dict) or not isinstance(section.get("url"), str) or set(section) != {"url"}:
            raise ValueError(f"{where}: [connectors.{name}] needs exactly one key, url = \"…\"")
        if name == TEST_CONNECTOR:
            raise ValueError(f"{where}: the connector name {TEST_CONNECTOR} is reserved for test accounts")
        connectors[name] = connector_from_url(name, section["url"])
    routes: list[Route] = []
    for i, section in enumerate(data.get("routes", [])):
        if not isinstance(section, dict) or set(section) != {"prefix", "connectors"} \
                or not isinstance(section["prefix"], str) or not isinstance(section["connectors"], list):
            raise ValueError(f"{where}: routes[{i}] needs prefix = \"…\" and connectors = [\"…\"]")
        routes.append(Route(section["prefix"], tuple(str(n) for n in section["connectors"])))
    return Router(connectors, routes)
