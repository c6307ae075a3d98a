"""The SOAP side: envelopes of both versions, contracts from `wsdl/`, and endpoints that dispatch by body element.

The faces live in `dialects/` (Puzzel, O2, native); `faces.py` mounts them, as `facade.py` mounts the HTTP ones.
"""
