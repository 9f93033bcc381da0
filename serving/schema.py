"""The service's request and response models, generated from the contract (never written by hand).

Each feature becomes a typed field: numeric -> a finite number within [min, max] (a whole number when the
contract says ``integer``), categorical -> one of the allowed values (a category coded as numbers takes 1, 1.0
and "1" as the same declared value, which is what the model and the log receive), boolean -> true/false; a
feature whose ``max_null_fraction`` is above zero may be null or left out. The record id (the contract's id
column, by its name) is required and echoed; a contract without an id gives every record a ``request_id``
(the client's, if it sends one, else a new one), returned and logged, so labels can come back with it. The
sensitive attribute, when declared, is accepted (required when it is a model input) and logged with every
inference. Unknown fields are rejected, so a misspelt feature is a 4xx, not a silent null.

Types are strict where lax parsing would hide a client bug: "3" is not a number, 1 is not true.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from projects.contract import REQUEST_ID, Feature, FeatureType, Project, Task
from projects.inference_log import per_project, record_columns, typed_frame
from projects.servable import contract_example

if TYPE_CHECKING:
    import pandas as pd

RECORDS = "records"  # the request's one field: the list of records to score
_MODELS: dict[tuple[str, str, str], type[BaseModel]] = {}


def _cached(kind: str) -> Callable[[Callable[[Project], type[BaseModel]]], Callable[[Project], type[BaseModel]]]:
    """Build each model once per contract (a Project holds dicts, so it cannot key an lru_cache)."""

    def decorate(build: Callable[[Project], type[BaseModel]]) -> Callable[[Project], type[BaseModel]]:
        def cached(project: Project) -> type[BaseModel]:
            key = (kind, project.name, project.contract_hash())
            if key not in _MODELS:
                _MODELS[key] = build(project)
            return _MODELS[key]

        cached.__doc__ = build.__doc__
        return cached

    return decorate


def attribute(column: str) -> str:
    """The Python attribute holding ``column`` on a record (renamed if it would shadow pydantic's own)."""
    return f"field_{column}" if hasattr(BaseModel, column) or column.startswith("model_") else column


def _field(column: str, kind: Any, default: Any) -> tuple[Any, Any]:
    if attribute(column) == column:
        return (kind, default)
    return (kind, Field(default, alias=column))


class Contract(BaseModel):
    """Base of the generated models: unknown keys are errors; field names may look like pydantic's own."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), serialize_by_alias=True)


def one_of(values: tuple[str, ...]) -> Any:
    """``Literal[values]`` for values known only at run time (a JSON-schema enum)."""
    return Literal[values]


def _whole(value: float) -> float:
    """pydantic's ``multiple_of`` tolerates a remainder below ~1e-9, so 3e-185 passed as an integer: not here."""
    if value != int(value):
        raise ValueError(f"Input should be a whole number, got {value!r}")
    return value


def _feature_type(feature: Feature) -> Any:
    """The pydantic type of one feature (nullability is added by the caller)."""
    doc = feature.description or None
    if feature.type is FeatureType.numeric and feature.integer:
        return Annotated[
            float,
            Field(strict=True, ge=feature.min, le=feature.max, allow_inf_nan=False, multiple_of=1, description=doc),
            AfterValidator(_whole),
        ]
    if feature.type is FeatureType.numeric:
        return Annotated[
            float,
            Field(
                strict=True,
                ge=feature.min,
                le=feature.max,
                allow_inf_nan=False,
                description=doc,
            ),
        ]
    if feature.type is FeatureType.boolean:
        return Annotated[bool, Field(strict=True, description=doc)]
    assert feature.values is not None  # the contract guarantees it for categoricals
    if feature.coded:
        coded_doc = f'{doc + "; " if doc else ""}coded as numbers: 1, 1.0 and "1" are the same value'
        return Annotated[one_of(feature.values), BeforeValidator(feature.declared_value), Field(description=coded_doc)]
    return Annotated[one_of(feature.values), Field(description=doc)]


def _optional(column: str, kind: Any, required: bool) -> tuple[Any, Any]:
    return _field(column, kind, ...) if required else _field(column, kind | None, None)


def example_record(project: Project) -> dict[str, Any]:
    """A valid record from the contract alone (middle of each range, first allowed value): warm-ups, tests."""
    return contract_example(project)


def _title(project: Project) -> str:
    return "".join(part.capitalize() for part in project.name.split("-"))


@_cached("record")
def record_model(project: Project) -> type[BaseModel]:
    """One record to score: the id (or an optional request id), the features, the sensitive attribute."""
    schema = project.schema
    fields: dict[str, Any] = {}
    if schema.id is not None:
        record_id = Annotated[str, Field(strict=True, min_length=1, max_length=256, description="Record id, echoed")]
        fields[attribute(schema.id.name)] = _field(schema.id.name, record_id, ...)
    else:
        words = "Your id for this record, echoed and logged; one is made up when left out (send it back with labels)"
        request_id = Annotated[str, Field(strict=True, min_length=1, max_length=256, description=words)]
        fields[attribute(REQUEST_ID)] = _optional(REQUEST_ID, request_id, required=False)
    for feature in schema.features:
        fields[attribute(feature.name)] = _optional(feature.name, _feature_type(feature), required=not feature.nullable)
    if schema.sensitive is not None:
        sensitive: Any = Annotated[one_of(schema.sensitive.values), Field(description="Audited for fairness; logged")]
        fields[attribute(schema.sensitive.name)] = _optional(
            schema.sensitive.name, sensitive, required=schema.sensitive.model_input
        )
    model: type[BaseModel] = create_model(
        f"{_title(project)}Record",
        __base__=Contract,
        __doc__=f"One {project.name} record to score.",
        **fields,
    )
    return model


@_cached("request")
def request_model(project: Project) -> type[BaseModel]:
    """The body of a predict call: ``{"records": [...]}``, 1 to ``serving.max_batch_size`` records."""
    records: Any = Annotated[
        list[record_model(project)],  # type: ignore[misc]
        Field(min_length=1, max_length=project.serving.max_batch_size, description="Records to score"),
    ]
    fields: dict[str, Any] = {RECORDS: (records, ...)}
    model: type[BaseModel] = create_model(
        f"{_title(project)}PredictRequest",
        __base__=Contract,
        __doc__=f"Records to score with the {project.name} champion.",
        **fields,
    )
    # OpenAPI 3.0 style; /docs.json replaces it with the served version's example (serving/docs.py)
    model.model_config["json_schema_extra"] = {"example": {RECORDS: [contract_example(project)]}}
    model.model_rebuild(force=True)
    return model


@_cached("response")
def response_model(project: Project) -> type[BaseModel]:
    """Ids echoed in request order, predictions, probabilities (classification), and which model answered.

    A multiclass target answers with the predicted class by name, its probability, and ``probabilities``: every
    declared class's probability by name.
    """
    id_name = project.schema.record_id
    doc = (
        "1.0 if the positive class is predicted, else 0.0"
        if project.task is Task.classification
        else "The predicted value"
    )
    outputs: dict[str, Any] = {
        "prediction": (float, Field(description=doc)),
        "probability": (float | None, Field(description="Probability of the positive class; null if none")),
    }
    classes = project.schema.target.classes if project.schema.target.multiclass else None
    if classes:
        by_name: Any = dict[one_of(classes), float]  # type: ignore[misc]
        outputs = {
            "prediction": (one_of(classes), Field(description="The predicted class: the most probable one")),
            "probability": (float, Field(description="Probability of the predicted class")),
            "probabilities": (
                by_name,
                Field(description=f"Probability of every class, by name (they sum to 1): {', '.join(classes)}"),
            ),
        }
    prediction = create_model(
        f"{_title(project)}Prediction",
        __base__=Contract,
        **{attribute(id_name): _field(id_name, str, ...), **outputs},
    )
    model_ref = create_model(
        "ModelRef",
        __base__=Contract,
        name=(str, Field(description="Registered model name")),
        version=(str, Field(description="Registered model version that answered")),
    )
    model: type[BaseModel] = create_model(
        f"{_title(project)}PredictResponse",
        __base__=Contract,
        model=(model_ref, ...),
        predictions=(list[prediction], ...),
    )
    return model


def _attributes(project: Project) -> list[tuple[str, str]]:
    """(column, record attribute) pairs, worked out once per contract: this runs for every request."""

    pairs: list[tuple[str, str]] = per_project(
        project, "attributes", lambda p: [(n, attribute(n)) for n in record_columns(p)]
    )
    return pairs


def records_to_columns(project: Project, records: Sequence[BaseModel]) -> dict[str, list[Any]]:
    """Validated records -> the log's record columns as Python lists (cheap: no pandas on this path).

    Without a declared id, every record without a ``request_id`` gets a new one here, once.
    """
    columns = {name: [getattr(r, attr) for r in records] for name, attr in _attributes(project)}
    if project.schema.id is None:
        columns[REQUEST_ID] = [value or uuid.uuid4().hex for value in columns[REQUEST_ID]]
    return columns


def model_frame(project: Project, columns: dict[str, list[Any]]) -> pd.DataFrame:
    """The model's input: ``schema.model_inputs`` typed exactly as training saw them."""

    return typed_frame(project, columns, project.schema.model_inputs)
