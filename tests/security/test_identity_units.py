"""Pure rules of identity: safe `next` paths, the lockout back-off, role mapping of
external tokens, JWT header checks."""

from __future__ import annotations

import pytest

from cityos.config import load_settings
from cityos.ngsild.errors import Unauthenticated
from cityos.security.identity import RoleMapping
from cityos.security.lockout import LockoutPolicy
from cityos.security.login_pages import DEFAULT_NEXT, safe_next
from cityos.security.oidc import tokens


@pytest.mark.parametrize("value", [None, "", "https://evil.example", "//evil.example",
                                   "/\\evil.example", "javascript:alert(1)", "evil.example",
                                   "/ok\r\nSet-Cookie: x=1", "/a\\b"])
def test_unsafe_next_falls_back_to_the_account_page(value: str | None) -> None:
    assert safe_next(value) == DEFAULT_NEXT


@pytest.mark.parametrize("value", ["/", "/shelters", "/twin/map?x=1&y=2", "/a/b#frag"])
def test_local_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


def test_lockout_doubles_up_to_the_maximum() -> None:
    policy = LockoutPolicy(threshold=5, delay=30.0, max_delay=900.0)
    assert [policy.lock_seconds(n) for n in range(4, 12)] == \
        [0, 30, 60, 120, 240, 480, 900, 900]


def test_roles_from_a_dotted_claim_with_a_mapping() -> None:
    settings = load_settings({"oidc_role_claim": "realm_access.roles",
                              "oidc_role_map": "city-staff=staff, city-admins=admin"},
                             environ={})
    mapping = RoleMapping.from_settings(settings)
    claims = {"realm_access": {"roles": ["city-staff", "offline_access"]}}
    assert mapping.roles(claims) == frozenset({"staff"})
    assert mapping.roles({"realm_access": "nope"}) == frozenset()


def test_roles_as_they_are_without_a_mapping() -> None:
    mapping = RoleMapping.from_settings(load_settings(environ={}))
    assert mapping.roles({"roles": ["a", "b"]}) == frozenset({"a", "b"})
    assert mapping.roles({"roles": "a b"}) == frozenset({"a", "b"})


def test_only_three_part_tokens_are_jwts() -> None:
    assert tokens.looks_like_jwt("a.b.c")
    assert not tokens.looks_like_jwt("cityos_apikey_123")
    assert not tokens.looks_like_jwt("a.b")


def test_garbage_jwt_segments_are_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        tokens.unverified_issuer("!!!.???.x")
