"""The network side: the worker claims due messages, connectors carry them to SMSCs, receipts and MOs come back."""
