"""Our own typed SOAP API at `/ws/v1`, document/literal wrapped, for what the vendors' interfaces offer piecemeal.

`soap.py` holds the operations and their endpoint, `types.py` the types the WSDL declares, and `contract.py`
writes the WSDL and schema under `wsdl/native/` from them.
"""
