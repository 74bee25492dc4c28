"""IdMap's unknown-id error: a hint when the id differs from a known one only in case."""

from __future__ import annotations

import pytest

from graphrec.data.idmap import IdMap
from graphrec.errors import UnknownIdError


def test_a_case_mismatched_id_gets_a_hint() -> None:
    ids = IdMap(["alice", "bob", 7], kind="user")
    with pytest.raises(
        UnknownIdError,
        match=r"user id 'Alice' is not known to this run \(3 users\); did you mean "
        r"'alice'\? \(ids are case-sensitive\)",
    ):
        ids.index("Alice")


def test_an_unrelated_unknown_id_gets_no_hint() -> None:
    with pytest.raises(UnknownIdError) as error:
        IdMap(["alice"], kind="user").index("carol")
    assert str(error.value) == "user id 'carol' is not known to this run (1 users)"
