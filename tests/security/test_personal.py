from cityos.ngsild.context import core_context
from cityos.security.personal import PersonalAttributes

VOCAB = core_context().expand_term


def test_plain_names_are_personal_on_every_type() -> None:
    rules = PersonalAttributes.parse("email, phoneNumber")
    assert rules.is_personal([VOCAB("Citizen")], VOCAB("email"))
    assert rules.is_personal([VOCAB("Shelter")], VOCAB("phoneNumber"))
    assert not rules.is_personal([VOCAB("Citizen")], VOCAB("name"))


def test_type_rules_hold_for_that_type_only() -> None:
    rules = PersonalAttributes.parse("EvacuationShelter.staffNote")
    assert rules.is_personal([VOCAB("EvacuationShelter")], VOCAB("staffNote"))
    assert not rules.is_personal([VOCAB("Building")], VOCAB("staffNote"))


def test_full_iris_are_kept_whole() -> None:
    rules = PersonalAttributes.parse("https://schema.org/email")
    assert rules.is_personal([VOCAB("Person")], "https://schema.org/email")
    assert not rules.is_personal([VOCAB("Person")], VOCAB("email"))


def test_an_empty_setting_tags_nothing() -> None:
    rules = PersonalAttributes.parse(" , ")
    assert not rules
    assert not rules.is_personal([VOCAB("Person")], VOCAB("email"))
