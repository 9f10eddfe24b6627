"""Kaga City OS: an ETSI NGSI-LD data platform with the city services on top."""

__version__ = "0.1.0"
