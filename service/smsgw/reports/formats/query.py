"""Adding a format's parameters to a customer's callback URL, which may already carry a query of its own."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode


def with_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    """`url` with `params` appended, URL-encoded as UTF-8 (spaces as `+`), in the order given.

    The URL is otherwise kept byte for byte (no parse and rebuild): its own query stays first, joined with `&`, and
    any `user:pass@` credentials stay where they are for the outbox to move. A fragment is never sent, but the query
    must come before it, so the parameters go there.
    """
    base, hash_, fragment = url.partition("#")
    query = urlencode(params)
    if not query:
        return url
    if "?" not in base:
        joined = f"{base}?{query}"
    elif base.endswith(("?", "&")):
        joined = base + query
    else:
        joined = f"{base}&{query}"
    return joined + hash_ + fragment
