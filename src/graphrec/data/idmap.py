"""Mapping between external ids (any hashable: int, str, …) and contiguous internal indices.

One id-matching rule everywhere (the command line, Python and the HTTP service all look ids up here): an id is
stored as an int when it is an integer and as its string form otherwise; a lookup matches by that value first and,
failing that, by string form — so '42' (from a command line or a URL) finds the integer id 42, and 42 finds '42'.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.errors import DataError, UnknownIdError


def _json_id(value: Any) -> int | str:
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (str, np.str_)):
        return str(value)
    return str(value)  # other hashables are stored by their string form


class IdMap:
    """Position i ↔ external id. Built from the ids in order of the given sequence (which must be unique)."""

    def __init__(self, ids: Sequence[Hashable], kind: str = "id", owner: str = "run") -> None:
        self.kind, self.owner = kind, owner  # owner names what knows the ids in errors ("run", "service")
        self._ids: list[int | str] = [_json_id(v) for v in ids]
        self._index: dict[Any, int] = {v: i for i, v in enumerate(self._ids)}
        if len(self._index) != len(self._ids):
            raise DataError(f"{kind} ids are not unique after conversion to int/str; make the {kind} ids distinct")
        self._by_str: dict[str, int] | None = None

    @classmethod
    def from_values(cls, values: Iterable[Hashable], kind: str = "id") -> IdMap:
        """Map the distinct values, sorted when they are all of one sortable kind (so 0..n-1 ints map to themselves)."""
        unique = list(dict.fromkeys(_json_id(v) for v in values))
        try:
            unique.sort()
        except TypeError:
            pass  # mixed kinds: keep first-appearance order
        return cls(unique, kind=kind)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return self.lookup(external_id) is not None

    @property
    def ids(self) -> list[int | str]:
        return list(self._ids)

    def lookup(self, external_id: object) -> int | None:
        """The index of an id, matching by value and, failing that, by string form ('42' finds 42)."""
        idx = self._index.get(_json_id(external_id))
        if idx is not None:
            return idx
        if self._by_str is None:
            self._by_str = {str(v): i for i, v in enumerate(self._ids)}
        return self._by_str.get(str(external_id))

    def index(self, external_id: object) -> int:
        """The index of one id; UnknownIdError names the id when it is not known."""
        idx = self.lookup(external_id)
        if idx is None:
            raise UnknownIdError(
                f"{self.kind} id {external_id!r} is not known to this {self.owner} ({len(self)} {self.kind}s)"
                f"{self._case_hint(external_id)}"
            )
        return idx

    def _case_hint(self, external_id: object) -> str:
        """'; did you mean 'alice'? (ids are case-sensitive)' when a known id differs from `external_id` only in
        case (or surrounding spaces), else ''. O(n), on the error path only."""
        wanted = str(external_id).strip().casefold()
        near = next((v for v in self._ids if str(v).strip().casefold() == wanted), None)
        return "" if near is None else f"; did you mean {near!r}? (ids are case-sensitive)"

    def indices(self, external_ids: Iterable[Hashable]) -> np.ndarray:
        """Indices of many ids; -1 for unknown ones (callers count and report them)."""
        return np.fromiter((self._index.get(_json_id(v), -1) for v in external_ids), dtype=np.int64)

    def extended(self, new_ids: Iterable[Hashable]) -> IdMap:
        """A new map with `new_ids` appended (positions of existing ids unchanged); this map is unchanged."""
        return IdMap(self._ids + [_json_id(v) for v in new_ids], kind=self.kind, owner=self.owner)

    def prepare_string_lookup(self) -> None:
        """Build the string-form table now (it is otherwise built by the first lookup that needs it), so that
        readers in other threads never build it while :meth:`append` runs."""
        if self._by_str is None:
            self._by_str = {str(v): i for i, v in enumerate(self._ids)}

    def append(self, external_id: Hashable) -> int:
        """Add one new id in place, O(1) amortised; return its index. DataError when it matches a known id."""
        if self.lookup(external_id) is not None:
            raise DataError(
                f"{self.kind} id {external_id!r} is already known to this {self.owner}; new {self.kind}s need new ids"
            )
        value, idx = _json_id(external_id), len(self._ids)
        self._ids.append(value)  # the position first: a reader that finds the id can always resolve it
        self._index[value] = idx
        if self._by_str is not None:
            self._by_str[str(value)] = idx
        return idx

    def id_of(self, idx: int) -> int | str:
        return self._ids[idx]

    def save(self, path: str | Path) -> None:
        from graphrec.io import atomic_write_text

        atomic_write_text(path, json.dumps(self._ids))

    @classmethod
    def load(cls, path: str | Path, kind: str = "id") -> IdMap:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")), kind=kind)
