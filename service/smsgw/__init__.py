"""smsgw: one SMS core behind the Puzzel, O2, Modica, OpenMarket, Rapporto and native interfaces."""

__version__ = "0.1.0"
