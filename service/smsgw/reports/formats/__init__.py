"""The callback formats, by the name an account's `report_format` gives (all but `pull`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..callback import Format
from .modica import MODICA
from .openmarket import OPENMARKET
from .puzzel import PUZZEL_GET, PUZZEL_JSON, PUZZEL_XML
from .rapporto import RAPPORTO

FORMATS: Mapping[str, Format] = {f.name: f for f in (MODICA, PUZZEL_JSON, PUZZEL_XML, PUZZEL_GET, OPENMARKET,
                                                      RAPPORTO)}
