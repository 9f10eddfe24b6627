"""The temporal side of NGSI-LD (ETSI GS CIM 009 §4.5.7–§4.5.9, §4.5.19, §4.11, §5.7.3,
§5.7.4): parsing temporal queries, deciding which instances a change adds to the history,
and rendering temporal representations. Pure: no I/O."""
