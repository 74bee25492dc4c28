"""Request and response bodies of the HTTP API (they also document it at /docs).

Ids are strings or integers and are compared by their string form. Ids sent to the write endpoints follow the
read path's rules, so that everything written can be read back through /v1/users/{user_id}/… and
/v1/items/{item_id}/…: a string id is 1 to 256 characters, none of them '/', a control character or a lone
surrogate, and not "." or ".." (which URLs resolve away); an integer id is within ±(2^53-1) (larger ones
are sent as strings: ids match by string form). Other ids are refused
with 422 (:func:`check_id`). Responses are written as JSON directly by the endpoints (the models below describe
them for OpenAPI; validating them per request would cost latency).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

MAX_ID_LENGTH = 256
_BAD_CHARS = r"/\x00-\x1f\x7f-\x9f\u2028\u2029"  # regex escapes (kept as text in the schema)
_BAD_CHAR = re.compile(rf"[{_BAD_CHARS}\ud800-\udfff]")  # JSON parsing refuses lone surrogates already
_ANY, _NOT_DOT = f"[^{_BAD_CHARS}]", f"[^.{_BAD_CHARS}]"
# The same rule as a lookahead-free regular expression, for the OpenAPI schema (and generators reading it).
ID_PATTERN = rf"^(?:{_ANY}{{3,}}|{_NOT_DOT}|{_NOT_DOT}{_ANY}|\.{_NOT_DOT})$"
INT_RANGE = (-(2**53 - 1), 2**53 - 1)  # exact in JSON everywhere (I-JSON, RFC 7493)


def _integral_float(value: object) -> object:
    """JSON numbers like 5.0 are integers (as JSON Schema counts them): 5."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def check_id(value: str | int) -> str | int:
    """`value` when it can be read back through the id routes; else a 422 naming the rule, the value and the fix."""
    if isinstance(value, int):
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            digits = len(str(abs(value))) if abs(value) < 10**4000 else "over 4000"
            raise PydanticCustomError(
                "id_range",
                "integer ids must be within ±(2^53-1), the range JSON carries exactly, got an integer of {digits} "
                "digits; send the id as a string (ids match by string form)",
                {"digits": digits},
            )
        return value
    problem = None
    if value in ("", ".", ".."):
        problem = "must not be empty, '.' or '..' (a URL cannot carry them in a path segment)"
    elif len(value) > MAX_ID_LENGTH:
        problem = f"must be at most {MAX_ID_LENGTH} characters"
    elif _BAD_CHAR.search(value):
        problem = "must not contain '/', control characters or lone surrogates (a URL path segment cannot carry them)"
    if problem is not None:
        shown = repr(value) if len(value) <= 60 else repr(value[:60]) + f"… ({len(value)} characters)"
        raise PydanticCustomError(
            "id_unreadable",
            "ids {problem}, so this one could not be read back through /v1/users/<id>/… or /v1/items/<id>/…; "
            "got {shown}; send an id of 1 to {max} characters without '/' and control characters",
            {"problem": problem, "shown": shown, "max": MAX_ID_LENGTH},
        )
    return value


ExternalId = Annotated[
    StrictStr | StrictInt,
    BeforeValidator(_integral_float),
    AfterValidator(check_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN},
                {"type": "integer", "minimum": INT_RANGE[0], "maximum": INT_RANGE[1]},
            ],
            "description": "external id; a string (1 to 256 characters, no '/' or control characters, not '.' or "
            "'..') or an integer within ±(2^53-1)",
        }
    ),
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
MAX_BATCH = 10_000


class ItemScore(BaseModel):
    item_id: StrictStr | StrictInt
    score: float


class Recommendations(BaseModel):
    user_id: StrictStr | StrictInt
    k: int
    items: list[ItemScore]
    fallback: Literal["popular"] | None = Field(
        description='null: ranked by the model; "popular": the user is unknown or has no interactions yet'
    )


class SimilarItems(BaseModel):
    item_id: StrictStr | StrictInt
    k: int
    items: list[ItemScore]
    fallback: Literal["popular"] | None = Field(
        description='"popular" when the item has no usable embedding (e.g. added with no features and no users)'
    )


class ItemFeatures(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vector: list[FiniteFloat] = Field(
        description="the item's feature row as the model reads it: the catalogue features plus the log-degree "
        "column (feature models only)",
        max_length=100_000,
    )


class NewItem(BaseModel):
    item_id: ExternalId
    features: ItemFeatures | None = Field(
        None, description="null: feature models look the item up in the run's catalogue; other models need null"
    )
    vector: list[FiniteFloat] | None = Field(
        None,
        max_length=100_000,
        description="the item's precomputed vector (image or other embedding) for a run trained with features.vectors "
        "or features.vector_col: replaces that block of its catalogue features (feature models only)",
    )
    users: list[ExternalId] = Field(
        default_factory=list,
        max_length=MAX_BATCH,
        description="users who engaged with the item (its first interactions)",
    )


class NewItemAccepted(BaseModel):
    item_id: StrictStr | StrictInt
    users: int
    embedded_from: Literal["features", "catalogue", "fold-in"]
    seq: int = Field(description="position of the write in the service's event log")


class Interaction(BaseModel):
    user_id: ExternalId
    item_id: ExternalId
    timestamp: StrictInt | StrictFloat | StrictStr | None = None


class Interactions(BaseModel):
    interactions: list[Interaction] = Field(min_length=1, max_length=MAX_BATCH)


class InteractionsAccepted(BaseModel):
    accepted: int
    new_users: int = Field(description="users seen for the first time (now servable)")
    seq: int = Field(description="position of the write in the service's event log")


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    users: int
    items: int
    index: str
    events_replayed: int
    writes: Literal["enabled", "disabled"]


class ErrorBody(BaseModel):
    detail: str
