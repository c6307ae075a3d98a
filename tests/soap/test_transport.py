"""What every SOAP endpoint does with bad input, on a real socket, in both SOAP versions: a fault of the request's
version (Client/HTTP 500 in 1.1, Sender/HTTP 400 in 1.2), a log line, never a traceback. Each test runs on every
endpoint the app mounts, so a new face gets them all."""

from __future__ import annotations

import pytest
from lxml import etree
from smsgw_testing import call
from werkzeug.test import Client

from smsgw.app import App
from smsgw.config import Settings
from smsgw.services import Services
from smsgw.soap import faces

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
VERSIONS = {"1.1": (SOAP11, "text/xml; charset=utf-8"), "1.2": (SOAP12, "application/soap+xml; charset=utf-8")}


PATHS = ["/gw/SMSGateway", "/gw/ws/SMSGatewayV10", "/mgmt/ws/GatewayManagementV10", "/smsconnector/services/PPGwPort",
         "/smsconnector/services/SimpleSmsGwPort", "/ws/v1"]


def test_these_tests_cover_every_soap_endpoint(services: Services) -> None:
    assert sorted(path for endpoint in faces.endpoints(services) for path in endpoint.paths) == sorted(PATHS)


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=sorted(VERSIONS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def post(live_url: str, path: str, version: str, body: bytes, **headers: str) -> tuple[int, etree._Element]:
    status, text, response = call(live_url, path, "POST", body, {"Content-Type": VERSIONS[version][1], **headers})
    assert response.getheader("Content-Type", "").startswith(VERSIONS[version][1].split(";")[0])
    return status, etree.fromstring(text.encode())


def fault_of(status: int, reply: etree._Element, version: str) -> str:
    """The reason of a sender fault, checked to be one in `version`'s shape, code and HTTP status."""
    ns = VERSIONS[version][0]
    fault = reply.find(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert fault is not None, etree.tostring(reply)
    if version == "1.1":
        assert status == 500 and str(fault.findtext("faultcode")).startswith("soap:Client")
        return str(fault.findtext("faultstring"))
    assert status == 400 and fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value") == "soap:Sender"
    return str(fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text"))


def envelope(version: str, body: str, header: str = "") -> bytes:
    return f'<e:Envelope xmlns:e="{VERSIONS[version][0]}">{header}<e:Body>{body}</e:Body></e:Envelope>'.encode()


def test_malformed_xml_is_a_sender_fault(live_url: str, path: str, version: str) -> None:
    assert fault_of(*post(live_url, path, version, envelope(version, "<a><b></a>")), version).startswith(
        "malformed XML")


def test_a_doctype_or_entity_is_refused_before_parsing(live_url: str, path: str, version: str) -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "xxxxxxxx">]>'
            + envelope(version, "<a>&x;&x;&x;</a>"))
    reason = fault_of(*post(live_url, path, version, body), version)
    assert "DOCTYPE" in reason


def test_an_unknown_body_element_is_a_sender_fault_naming_it(live_url: str, path: str, version: str) -> None:
    reason = fault_of(*post(live_url, path, version, envelope(version, '<x:nothing xmlns:x="urn:x"/>')),
                      version)
    assert "{urn:x}nothing" in reason


def test_an_envelope_of_the_other_version_is_a_version_mismatch(live_url: str, path: str, version: str) -> None:
    other = "1.2" if version == "1.1" else "1.1"
    status, reply = post(live_url, path, version, envelope(other, "<a/>"))
    assert status == 500  # SOAP 1.2 part 2 §7.5.1: 400 is for Sender faults only
    ns = VERSIONS[version][0]
    fault = reply.find(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert fault is not None
    assert "VersionMismatch" in etree.tostring(fault).decode()


def test_a_header_we_must_understand_is_refused(live_url: str, path: str, version: str) -> None:
    ns = VERSIONS[version][0]
    header = '<e:Header><s:Security xmlns:s="urn:sec" e:mustUnderstand="1"/></e:Header>'
    status, reply = post(live_url, path, version, envelope(version, "<a/>", header))
    assert status == 500
    assert "MustUnderstand" in etree.tostring(reply).decode()
    assert reply.find(f"{{{ns}}}Body/{{{ns}}}Fault") is not None


def test_a_body_without_an_element_is_a_sender_fault(live_url: str, path: str, version: str) -> None:
    reason = fault_of(*post(live_url, path, version, envelope(version, "")), version)
    assert "exactly one element" in reason


def test_a_body_over_the_size_limit_is_413_with_a_fault(services: Services, path: str, version: str) -> None:
    client = Client(App(services, Settings(max_request_bytes=1000)))
    response = client.post(path, data=envelope(version, "<a>" + "x" * 2000 + "</a>"),
                           headers={"Content-Type": VERSIONS[version][1]})
    assert response.status_code == 413
    assert b"larger than 1000 bytes" in response.data and b"Fault" in response.data


def test_a_post_that_is_not_soap_is_415_with_a_fault(live_url: str, path: str) -> None:
    status, text, _ = call(live_url, path, "POST", b"{}", {"Content-Type": "application/json"})
    assert status == 415 and "is not SOAP" in text


def test_a_get_without_wsdl_says_what_to_do(live_url: str, path: str) -> None:
    status, text, _ = call(live_url, path)
    assert status == 200 and f"{path}?wsdl" in text


def test_a_get_for_the_wsdl_serves_it(live_url: str, path: str) -> None:
    status, text, _ = call(live_url, f"{path}?wsdl")
    assert status == 200
    assert etree.fromstring(text.encode()).tag == "{http://schemas.xmlsoap.org/wsdl/}definitions"
