"""What every HTTP dialect needs: parameters from query and form, plain-text replies, booleans as clients spell them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..domain.errors import GatewayError, RateLimited

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "n", ""})


class Face(Protocol):
    """An HTTP dialect: its URL rules, whose endpoints are its handlers `(request, **url_values) -> Response`."""

    def rules(self) -> Iterable[Rule]: ...


def params(request: Request) -> MultiDict[str, str]:
    """Query parameters and, for a form POST, the form's: vendors let clients put them in either place."""
    if request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return CombinedMultiDict([request.args, request.form])
    return request.args


class Contradiction(ValueError):
    """A parameter given more than once, with different values."""


def single(values: MultiDict[str, str], name: str) -> str | None:
    """A parameter's one value (None when absent). Repeats are fine while they agree; a client that sends two
    different values contradicts itself, and no vendor says which one wins."""
    given = values.getlist(name)
    if len(set(given)) > 1:
        raise Contradiction(name)
    return given[0] if given else None


def flag(raw: str | None) -> bool | None:
    """A boolean in any spelling clients send (TRUE/FALSE/true/false/1/0/yes/no, empty = false); None when absent.
    Raises ValueError for anything else."""
    if raw is None:
        return None
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def plain(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status=status, mimetype="text/plain", headers=dict(headers or {}))


def client_address(request: Request) -> str:
    return str(request.environ.get("REMOTE_ADDR", "?"))


def retry_after(error: GatewayError | None) -> dict[str, str]:
    """The Retry-After header for a rate-limited request (whole seconds, at least 1); no header for anything else.
    Every face sends it with its own refusal, whatever status code that refusal has."""
    return {"Retry-After": error.retry_after_header} if isinstance(error, RateLimited) else {}
