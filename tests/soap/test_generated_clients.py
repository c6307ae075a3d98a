"""Clients that other stacks' tools generate from our committed WSDLs, run against the live server on a real socket:
`clients/java` (JAX-WS proxies from `wsimport`) and `clients/dotnet` (ASMX proxies from Mono's `wsdl`, built with
`mcs`). Each demo sends a text, a binary message and a batch over the native API, reads their statuses, cancels a
scheduled batch, receives and confirms reports, catches two typed faults, and sends one message through Puzzel's
`sendMessages`; it prints `key=value` lines, which are checked here against the store.

Both build scripts fail on any generator or compiler warning, so a passing build is also the proof that our WSDLs
generate cleanly. Each client is built once per module, into a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from smsgw_testing import require
from sqlalchemy import select

from smsgw.domain.model import Account, Status
from smsgw.services import Services
from smsgw.store.tables import messages

pytestmark = pytest.mark.slow

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
PASSWORD = "s3cret"
SHORT_CODE = "+4741900000"  # the account's number, which the MO below is sent to
TOOLS = {"java": ("wsimport", "javac", "java"), "dotnet": ("wsdl", "mcs", "mono")}
PACKAGES = {"java": "jaxws and a JDK (default-jdk-headless)", "dotnet": "mono-devel"}
# What each demo sends (clients/*/SmsgwDemo.*): its prefix in references and texts, and its recipients.
SENT = {
    "java": {"prefix": "java", "name": "Java", "text_to": "+4791000001", "binary_to": "+4791000002",
             "batch_to": ["+4791000003", "+4791000004"], "later_to": "+4791000005", "puzzel_to": "+4791000006"},
    "dotnet": {"prefix": "dotnet", "name": ".NET", "text_to": "+4791000011", "binary_to": "+4791000012",
               "batch_to": ["+4791000013", "+4791000014"], "later_to": "+4791000015", "puzzel_to": "+4791000016"},
}
PAYLOAD = bytes([0x00, 0x01, 0x02, 0xFE, 0xFF])
UDH = bytes([0x06, 0x05, 0x04, 0x15, 0x81, 0x00, 0x00])


def build(client: str, directory: Path) -> None:
    tools = TOOLS[client]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    require(not missing, f"{', '.join(missing)} not installed (Debian: {PACKAGES[client]})")
    done = subprocess.run(["sh", str(CLIENTS / client / "build.sh"), str(directory)], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"clients/{client}/build.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def java_demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    directory = tmp_path_factory.mktemp("java")
    build("java", directory)
    return [str(directory / "smsgw-demo")]


@pytest.fixture(scope="module")
def dotnet_demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    directory = tmp_path_factory.mktemp("dotnet")
    build("dotnet", directory)
    return ["mono", str(directory / "SmsgwDemo.exe")]


@pytest.fixture
def account(services: Services) -> Account:
    """An account with one MO waiting in its pull queue."""
    created = services.accounts.create("acme", PASSWORD, account_id=4711, default_country="NO")
    services.accounts.add_number("acme", SHORT_CODE)
    services.gateway.ingest_mo("+4792000001", SHORT_CODE, text="hello gateway")
    return created


def run(command: list[str], *args: str) -> dict[str, str]:
    """The demo's output as a dict; it must exit 0 and print nothing on stderr, and no key twice."""
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert done.stderr == "", done.stderr
    pairs = [line.split("=", 1) for line in done.stdout.splitlines()]
    assert all(len(pair) == 2 for pair in pairs), done.stdout
    result = dict(pairs)
    assert len(result) == len(pairs), done.stdout
    return result


@pytest.mark.parametrize("client", ["java", "dotnet"])
def test_a_generated_client_sends_and_reads_back(client: str, request: pytest.FixtureRequest, live_url: str,
                                                 services: Services, account: Account) -> None:
    demo: list[str] = request.getfixturevalue(f"{client}_demo")
    out = run(demo, live_url, account.name, PASSWORD, str(account.id))
    sent = SENT[client]
    prefix = sent["prefix"]
    gateway = services.gateway

    # the text and the binary message, as stored
    text = gateway.status(int(out["text.id"]), account)
    assert (text.recipient, text.text, text.client_ref) == (sent["text_to"], f"Hello from {sent['name']}",
                                                            f"{prefix}-text")
    assert (out["text.status"], out["text.recipient"], out["text.segments"]) == ("accepted", sent["text_to"], "1")
    binary = gateway.status(int(out["binary.id"]), account)
    assert (binary.recipient, binary.payload, binary.text) == (sent["binary_to"], PAYLOAD, None)
    with services.store.read() as conn:
        assert conn.execute(select(messages.c.udh).where(messages.c.id == binary.id)).scalar_one() == UDH
    assert (out["binary.status"], out["binary.segments"]) == ("accepted", "1")
    assert out[f"status.byReference.{prefix}-text"] == out["text.id"]

    # the batch: two accepted, the bad recipient refused on its own
    ref = out["batch.reference"]
    assert (out["batch.accepted"], out["batch.refused"]) == ("2", "1")
    assert out["batch.2.recipient"] == "not-a-number"
    assert out["batch.2.error"] == "invalid_recipient"
    assert "batch.2.id" not in out
    for index, recipient in enumerate(sent["batch_to"]):
        view = gateway.status(int(out[f"batch.{index}.id"]), account)
        assert (view.recipient, view.batch_ref, view.client_ref) == (recipient, ref, f"{prefix}-batch-{index}")
        assert out[f"batch.{index}.status"] == view.status.value

    # every status the client read is the store's
    ids = [out["text.id"], out["binary.id"], out["batch.0.id"], out["batch.1.id"]]
    for id_ in ids:
        view = gateway.status(int(id_))
        assert out[f"status.{id_}"] == view.status.value
        assert out[f"status.{id_}.recipient"] == view.recipient
        assert out[f"status.{id_}.batch"] == view.batch_ref
        assert out[f"status.{id_}.history"] == str(len(gateway.history(view.id)))
    batch = gateway.batch_status(account, ref)
    assert (out["batchstatus.total"], out["batchstatus.pending"]) == (str(batch.total), str(batch.pending)) == \
        ("2", "2")
    assert {k.removeprefix("batchstatus."): v for k, v in out.items()
            if k.startswith("batchstatus.") and k not in ("batchstatus.total", "batchstatus.pending")} == \
        {s.value: str(n) for s, n in batch.by_status.items()}

    # the scheduled batch, cancelled
    assert out["later.status"] == "scheduled"
    assert out["cancelled"] == out["later.id"]
    later = gateway.status(int(out["later.id"]), account)
    assert (later.status, later.recipient, later.batch_ref) == (Status.CANCELLED, sent["later_to"], f"{prefix}-later")

    # the pull queue: the MO and the cancelled message's report, both confirmed
    assert out["received"] == "2"
    assert [v for k, v in out.items() if k.endswith(".inbound")] == ["hello gateway"]
    assert [v for k, v in out.items() if k.endswith(".report")] == ["cancelled"]
    assert out["confirmed"] == "2"
    assert gateway.receive(account, 10) == []

    # typed faults: JAX-WS raises the fault's own exception class; ASMX gives the detail element
    if client == "java":
        assert out["fault.unknownMessage"] == "UnknownMessageFault"
        assert out["fault.wrongPassword"] == "AuthenticationFault"
    else:
        assert (out["fault.unknownMessage"], out["fault.unknownMessage.code"]) == \
            ("UnknownMessage", "Client.UnknownMessage")
        assert (out["fault.wrongPassword"], out["fault.wrongPassword.code"]) == \
            ("Authentication", "Client.Authentication")
    assert out["fault.wrongPassword.text"] == "invalid credentials"

    # Puzzel's sendMessages, from proxies of the vendor-shaped WSDL (status code 1: accepted; ids in base 36)
    assert out["puzzel.batchReference"] == f"{prefix}-puzzel"
    assert (out["puzzel.1.statusCode"], out["puzzel.1.recipient"]) == ("1", sent["puzzel_to"])
    puzzel = gateway.status(int(out["puzzel.1.messageId"], 36), account)
    assert (puzzel.recipient, puzzel.batch_ref, puzzel.client_ref, puzzel.text) == \
        (sent["puzzel_to"], f"{prefix}-puzzel", f"{prefix}-puzzel-0", f"Hello from {sent['name']} via Puzzel")
