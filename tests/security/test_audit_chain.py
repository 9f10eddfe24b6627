"""The audit hash chain: sealing, and naming the first record that was edited, removed or
re-ordered."""

from __future__ import annotations

import itertools

from cityos.security.audit_chain import ChainVerifier, record_hash, seal
from cityos.storage.audit import GENESIS, AuditEntry, AuditHead, AuditRecord


def entry(n: int) -> AuditEntry:
    return AuditEntry(time=f"2026-01-01T00:00:{n:02d}.000000Z", subject="operator:alice",
                      kind="operator", client_id=None, issuer=None, tenant=None,
                      operation="PATCH /ngsi-ld/v1/entities/{entityId}/attrs",
                      target=f"urn:ngsi-ld:Thing:{n}", purpose="disaster-response",
                      result="204", remote="127.0.0.1", request_id=f"r{n}")


def chain(count: int) -> list[AuditRecord]:
    return seal(GENESIS, [entry(n) for n in range(1, count + 1)])


def verify(records: list[AuditRecord], start: AuditHead = GENESIS) -> ChainVerifier:
    verifier = ChainVerifier(start)
    verifier.feed(records)
    return verifier


def test_sealed_chain_verifies_and_links_each_record_to_the_previous() -> None:
    records = chain(5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS.hash
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    verifier = verify(records)
    assert verifier.broken is None and verifier.checked == 5
    assert verifier.head == AuditHead(5, records[-1].hash)


def test_sealing_continues_from_a_head() -> None:
    first = chain(3)
    more = seal(AuditHead(3, first[-1].hash), [entry(9)])
    assert more[0].seq == 4
    assert verify(first + more).broken is None


def test_an_edited_record_is_named() -> None:
    records = chain(5)
    records[2] = records[2]._replace(entry=records[2].entry._replace(result="403"))
    broken = verify(records).broken
    assert broken is not None and (broken.seq, broken.problem) == (3, "edited")


def test_an_edited_record_whose_hash_was_recomputed_breaks_the_next_link() -> None:
    records = chain(5)
    edited = records[1].entry._replace(subject="operator:mallory")
    records[1] = AuditRecord(2, edited, records[1].prev_hash,
                             record_hash(2, edited, records[1].prev_hash))
    broken = verify(records).broken
    assert broken is not None and (broken.seq, broken.problem) == (3, "re-ordered")


def test_a_removed_record_is_named_as_a_gap() -> None:
    records = chain(5)
    del records[3]
    broken = verify(records).broken
    assert broken is not None and (broken.seq, broken.problem) == (4, "removed")


def test_swapped_records_are_named_as_re_ordered() -> None:
    records = chain(5)
    a, b = records[1], records[2]
    records[1] = AuditRecord(2, b.entry, b.prev_hash, b.hash)
    records[2] = AuditRecord(3, a.entry, a.prev_hash, a.hash)
    broken = verify(records).broken
    assert broken is not None and (broken.seq, broken.problem) == (2, "re-ordered")


def test_a_chain_starting_after_an_anchor_verifies_from_it() -> None:
    records = chain(6)
    anchor = AuditHead(3, records[2].hash)
    assert verify(records[3:], anchor).broken is None
    broken = verify(records[4:], anchor).broken
    assert broken is not None and broken.problem == "removed"
