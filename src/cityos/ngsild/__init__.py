"""The NGSI-LD domain (ETSI GS CIM 009): pure functions and data, no I/O."""
