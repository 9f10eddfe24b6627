"""Remote @context fetches never reach link-local (metadata), multicast or unspecified
addresses, whatever URL a client names."""

from __future__ import annotations

import pytest

from cityos.broker.context_resolver import ContextResolver
from cityos.ngsild.errors import BadRequestData


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/context.jsonld",
    "http://[fe80::1]/context.jsonld",
    "http://0.0.0.0/context.jsonld",
    "http://224.0.0.1/context.jsonld",
])
async def test_forbidden_destinations_are_refused(url: str) -> None:
    resolver = ContextResolver("http://127.0.0.1:1026", timeout=2.0)
    try:
        with pytest.raises(BadRequestData, match="not allowed"):
            await resolver.resolve(url)
    finally:
        await resolver.aclose()
