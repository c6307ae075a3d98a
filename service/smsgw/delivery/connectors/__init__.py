"""Connectors: one small interface (`base.Connector`), an SMPP 3.4 client and a simulator behind it."""
