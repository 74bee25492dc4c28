"""Request and response bodies of the HTTP API (they also document it at /docs).

Ids are strings or integers and are compared by their string form. Responses are written as JSON directly by
the endpoints (the models below describe them for OpenAPI; validating them per request would cost latency).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

ExternalId = Annotated[StrictStr | StrictInt, Field(description="external id; a string or an integer")]
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
