"""Accounts: creation with validated settings, updates and the credential version, owned numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smsgw.accounts import SETTINGS, Accounts, SettingError, parse_settings
from smsgw.auth import verify_password
from smsgw.domain.encoding import ParsingType
from smsgw.domain.errors import ErrorCode, GatewayError
from smsgw.domain.model import Account
from smsgw.domain.numbers import OriginatorType

FP = "AB:" * 31 + "AB"

EVERY_SETTING = {
    "active": "yes",
    "allowed_networks": "192.0.2.7/24, 2001:db8::/32",
    "trusted_proxies": "10.0.0.1",
    "client_address_header": "X-Forwarded-For",
    "client_cert_header": " X-Client-Cert ",
    "client_certs": f"{FP}, sha256:{'cd' * 32}",
    "default_country": "se",
    "default_originator": "ACME",
    "default_originator_type": "Alphanumeric",
    "allowed_originators": "ACME, +46701234567,, ",
    "max_parts": "3",
    "parsing_type": "safe_remove_non_gsm",
    "duplicate_window": "0",
    "default_validity": "86400",
    "test_mode": "off",
    "send_rate": "25",
    "single_shot_billing": "TRUE",
    "report_format": "puzzel-json",
    "dlr_url": "https://customer.example/dlr?x=1",
    "mo_url": " ",
    "report_intermediate": "1",
    "intermediate_states": "Buffered, submitted",
    "report_retention": "48",
    "report_timeout": "5",
    "report_header": " X-API-Key :  s3cret ",
    "report_secret": "0123456789abcdef0123",
    "credit_mode": "currency",
    "segment_price": "35",
    "request_rate": "20",
    "message_rate": "500",
    "recipient_quota": "5",
    "recipient_window": "86400",
    "stop_keywords": "stop, Stopp ,STOP",
    "start_keywords": "start",
    "stop_reply": " You will get no more messages. ",
    "start_reply": "",
    "suppress_codes": "0x0b, 357",
    "content_retention": "30",
}


def test_parse_settings_turns_text_into_account_values() -> None:
    values = parse_settings(EVERY_SETTING)
    assert set(values) == set(SETTINGS) == set(EVERY_SETTING)
    assert values == {
        "active": True,
        "allowed_networks": ("192.0.2.0/24", "2001:db8::/32"),
        "trusted_proxies": ("10.0.0.1/32",),
        "client_address_header": "X-Forwarded-For",
        "client_cert_header": "X-Client-Cert",
        "client_certs": ("ab" * 32, "cd" * 32),
        "default_country": "SE",
        "default_originator": "ACME",
        "default_originator_type": OriginatorType.ALPHANUMERIC,
        "allowed_originators": ("ACME", "+46701234567"),
        "max_parts": 3,
        "parsing_type": ParsingType.SAFE_REMOVE_NON_GSM,
        "duplicate_window": 0,
        "default_validity": 86400,
        "test_mode": False,
        "send_rate": 25,
        "single_shot_billing": True,
        "report_format": "puzzel-json",
        "dlr_url": "https://customer.example/dlr?x=1",
        "mo_url": None,
        "report_intermediate": True,
        "intermediate_states": ("submitted", "buffered"),
        "report_retention": 48,
        "report_timeout": 5,
        "report_header": "X-API-Key: s3cret",
        "report_secret": "0123456789abcdef0123",
        "credit_mode": "currency",
        "segment_price": 35,
        "request_rate": 20,
        "message_rate": 500,
        "recipient_quota": 5,
        "recipient_window": 86400,
        "stop_keywords": ("STOP", "STOPP"),
        "start_keywords": ("START",),
        "stop_reply": "You will get no more messages.",
        "start_reply": None,
        "suppress_codes": ("0x0b", "357"),
        "content_retention": 30,
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("allowed_networks", "10.0.0.0/33"),
        ("allowed_networks", "10.0.0.0/8, example.com"),
        ("trusted_proxies", "300.1.1.1"),
        ("default_country", "XX"),
        ("default_country", "NOR"),
        ("dlr_url", "ftp://customer.example/dlr"),
        ("mo_url", "https://"),
        ("mo_url", "customer.example/mo"),
        ("report_format", "smpp"),
        ("report_format", "PULL"),
        ("active", "maybe"),
        ("test_mode", ""),
        ("max_parts", "0"),
        ("max_parts", "256"),
        ("max_parts", "six"),
        ("duplicate_window", "-1"),
        ("duplicate_window", str(30 * 86400 + 1)),
        ("default_validity", "59"),
        ("client_certs", "abcd"),
        ("client_certs", "zz" * 32),
        ("parsing_type", "UTF8"),
        ("default_originator_type", "numeric"),
        ("intermediate_states", "delivered"),
        ("report_retention", "0"),
        ("report_timeout", "121"),
        ("report_header", "X-API-Key"),
        ("report_header", "Bad Name: x"),
        ("report_header", "X-Key: a\r\nInjected: b"),
        ("report_secret", "short"),
        ("credit_mode", "prepaid"),
        ("segment_price", "-1"),
        ("request_rate", "fast"),
        ("recipient_window", "0"),
        ("stop_keywords", "STOP NOW"),
        ("stop_reply", "x" * 919),
        ("content_retention", "-1"),
    ],
)
def test_parse_settings_refuses_a_bad_value_and_names_the_setting(name: str, text: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_settings({name: text})
    assert str(caught.value).startswith(f"{name}: ")


def test_parse_settings_refuses_an_unknown_setting() -> None:
    with pytest.raises(SettingError, match="unknown account setting 'colour'"):
        parse_settings({"colour": "blue"})


def test_parse_settings_accepts_the_range_limits() -> None:
    assert parse_settings({"max_parts": "1"})["max_parts"] == 1
    assert parse_settings({"max_parts": "255"})["max_parts"] == 255
    assert parse_settings({"default_validity": "60"})["default_validity"] == 60
    assert parse_settings({"allowed_networks": ""})["allowed_networks"] == ()
    assert parse_settings({"default_country": ""})["default_country"] is None


# --- create --------------------------------------------------------------------------------------------------------


def test_create_stores_every_setting(accounts: Accounts) -> None:
    created = accounts.create("beta", "pw", **parse_settings(EVERY_SETTING))
    assert accounts.get("beta") == created
    assert created.id == 1 and created.credential_version == 1
    assert verify_password("pw", created.password_hash)
    expected = replace(Account(id=1, name="beta", password_hash=created.password_hash), **parse_settings(EVERY_SETTING))
    assert created == expected


def test_create_with_defaults_gives_the_documented_defaults(accounts: Accounts) -> None:
    created = accounts.create("plain", "pw")
    assert created == Account(id=created.id, name="plain", password_hash=created.password_hash)
    assert accounts.get("plain") == created


def test_create_numbers_accounts_in_order_or_takes_the_given_id(accounts: Accounts) -> None:
    assert accounts.create("one", "pw").id == 1
    assert accounts.create("o2-ba", "pw", account_id=500).id == 500
    assert accounts.create("next", "pw").id == 501
    assert [a.name for a in accounts.all()] == ["one", "o2-ba", "next"]


def test_create_infers_the_default_originator_type(accounts: Accounts) -> None:
    assert accounts.create("a", "pw", default_originator="ACME").default_originator_type is OriginatorType.ALPHANUMERIC
    assert accounts.create("b", "pw", default_originator="1960").default_originator_type is OriginatorType.NETWORK
    assert accounts.create("c", "pw", default_originator="+4741000000").default_originator_type is (
        OriginatorType.INTERNATIONAL)


def test_create_refuses_a_default_originator_not_in_its_network_form(accounts: Accounts) -> None:
    with pytest.raises(SettingError, match="default_originator"):
        accounts.create("a", "pw", default_originator="0047 41000000", default_country="NO",
                        default_originator_type=OriginatorType.INTERNATIONAL)


def test_create_refuses_an_invalid_default_originator_as_a_setting_error(accounts: Accounts) -> None:
    with pytest.raises(SettingError, match=r"^default_originator: "):
        accounts.create("a", "pw", default_originator="Much Too Long Sender")


def test_a_duplicate_name_is_refused(accounts: Accounts, account: Account) -> None:
    with pytest.raises(SettingError, match="named 'acme' exists"):
        accounts.create("acme", "other")
    assert accounts.get("acme") == account


def test_a_duplicate_id_is_refused(accounts: Accounts, account: Account) -> None:
    with pytest.raises(SettingError, match=f"id {account.id} exists"):
        accounts.create("another", "pw", account_id=account.id)
    assert [a.name for a in accounts.all()] == ["acme"]


def test_a_bad_name_is_refused(accounts: Accounts) -> None:
    for name in ("", " acme", "acme ", "a" * 65, "tab\there"):
        with pytest.raises(SettingError, match=r"^name: "):
            accounts.create(name, "pw")
    assert accounts.create("a" * 64, "pw").name == "a" * 64


def test_an_empty_password_or_a_bad_id_is_refused(accounts: Accounts) -> None:
    with pytest.raises(SettingError, match=r"^password: "):
        accounts.create("acme", "")
    for bad in (0, -1, 2**63):
        with pytest.raises(SettingError, match=r"^id: "):
            accounts.create("acme", "pw", account_id=bad)
    assert accounts.all() == []


# --- update --------------------------------------------------------------------------------------------------------


def test_update_bumps_the_credential_version_on_a_password_or_active_change_only(
    accounts: Accounts, account: Account
) -> None:
    assert account.credential_version == 1
    assert accounts.update("acme", max_parts=2, allowed_networks=("192.0.2.0/24",)).credential_version == 1
    assert accounts.update("acme", active=True).credential_version == 1  # no change of active
    changed = accounts.update("acme", password="n3w")
    assert changed.credential_version == 2 and verify_password("n3w", changed.password_hash)
    assert accounts.update("acme", active=False).credential_version == 3
    assert accounts.update("acme", active=False).credential_version == 3
    assert accounts.update("acme", active=True).credential_version == 4
    stored = accounts.get("acme")
    assert (stored.credential_version, stored.max_parts, stored.allowed_networks, stored.active) == (
        4, 2, ("192.0.2.0/24",), True)
    assert verify_password("n3w", stored.password_hash)


def test_update_of_an_unknown_account_is_not_found(accounts: Accounts) -> None:
    with pytest.raises(GatewayError) as caught:
        accounts.update("nobody", max_parts=2)
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_update_refuses_an_empty_password_and_changes_nothing(accounts: Accounts, account: Account) -> None:
    with pytest.raises(SettingError):
        accounts.update("acme", password="", max_parts=2)
    assert accounts.get("acme") == account


def test_update_infers_the_type_of_a_new_default_originator(accounts: Accounts, account: Account) -> None:
    changed = accounts.update("acme", default_originator="1960")
    assert changed.default_originator_type is OriginatorType.NETWORK
    assert accounts.get("acme").default_originator_type is OriginatorType.NETWORK


# --- numbers -------------------------------------------------------------------------------------------------------


def test_add_number_normalises_the_number_and_the_keyword(accounts: Accounts, account: Account) -> None:
    assert accounts.add_number("acme", "0047 419 00 000") == ("+4741900000", "")
    assert accounts.add_number("acme", "+47 41900000", " pizza ") == ("+4741900000", "PIZZA")
    assert accounts.add_number("acme", "1960", "stop") == ("1960", "STOP")
    assert accounts.add_number("acme", "47 41 90 00 02") == ("+4741900002", "")  # international without "+"
    assert accounts.numbers("acme") == [("+4741900000", ""), ("+4741900000", "PIZZA"), ("+4741900002", ""),
                                        ("1960", "STOP")]


def test_add_number_reads_an_eight_digit_national_number_in_the_default_country(
    accounts: Accounts, account: Account
) -> None:
    assert accounts.add_number("acme", "41900001") == ("+4741900001", "")


def test_add_number_refuses_a_number_and_keyword_already_owned(
    accounts: Accounts, account: Account, other: Account
) -> None:
    accounts.add_number("acme", "+4741900000", "PIZZA")
    for name, number, keyword in (("acme", "+4741900000", "pizza"), ("globex", "004741900000", "Pizza")):
        with pytest.raises(SettingError, match="already owned"):
            accounts.add_number(name, number, keyword)
    assert accounts.add_number("globex", "+4741900000") == ("+4741900000", "")  # the catch-all is still free
    assert accounts.numbers("globex") == [("+4741900000", "")]


def test_add_number_refuses_a_bad_keyword_or_number(accounts: Accounts, account: Account) -> None:
    with pytest.raises(SettingError, match=r"^keyword: "):
        accounts.add_number("acme", "+4741900000", "two words")
    with pytest.raises(SettingError, match=r"^keyword: "):
        accounts.add_number("acme", "+4741900000", "k" * 41)
    with pytest.raises(SettingError, match=r"^number: .*neither a valid number nor a short code"):
        accounts.add_number("acme", "12")
    with pytest.raises(GatewayError) as unknown:
        accounts.add_number("nobody", "+4741900000")
    assert unknown.value.code is ErrorCode.NOT_FOUND
    assert accounts.numbers("acme") == []
