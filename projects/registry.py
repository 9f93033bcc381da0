"""Names shared by everything that talks to the model registry: the one place they are spelled.

The registry (MLflow) is the source of truth. A project's registered model is named after the project; the
version serving and monitoring use is always ``models:/<project>@champion``; nobody guesses a version.
Pipelines write these tags, serving and monitoring read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION = "champion"
PREVIOUS = "previous"

# Tags on a model version
TAG_CONTRACT_HASH = "mlops.contract_hash"  # hash of project.yaml the model was trained under
TAG_LIBRARIES = "mlops.libraries"  # JSON: python, scikit-learn, mlflow, pandas versions at training time
TAG_WATERMARK = "mlops.watermark"  # ISO time of the newest event trained on
TAG_WINDOW_END = "mlops.window_end"  # newest event in the version's whole window (holdout included)
TAG_TRAINED_AT = "mlops.trained_at"
TAG_DECISION = "mlops.decision"  # promoted | rejected | aborted | rolled_back
TAG_REASON = "mlops.reason"  # a sentence a person reads
TAG_PROMOTED_AT = "mlops.promoted_at"  # ISO time this version became champion
TAG_ROLLED_BACK = "mlops.rolled_back"  # "true": automation must never promote it again
TAG_ROLLED_BACK_AT = "mlops.rolled_back_at"  # ISO time it lost the champion alias by rollback
TAG_REPLACED = "mlops.replaced"  # the champion version this one replaced (rollback restores "previous" from it)
TAG_GATE_PREFIX = "mlops.gate."  # the gate's numbers the code reads, one tag each (GATE_TAGGED), e.g.
# mlops.gate.challenger.roc_auc; every number it used and every check are in the one JSON tag TAG_GATE
TAG_GATE = "mlops.gate"  # JSON: {"numbers": {...}, "checks": [{"name", "status", "detail"}]}
TAG_FAIRNESS = "mlops.fairness"  # "audited", or "not audited: <why>" (never counted as a pass)
TAG_EXAMPLE = "mlops.example"  # JSON: per-column medians and modes of the training rows (the docs' example record)

# Tags on the registered model (state of the loop; jobs are stateless)
TAG_LAST_RETRAIN_AT = "mlops.last_retrain_at"
TAG_LAST_TRIGGER = "mlops.last_trigger"  # JSON of the last trigger decision
TAG_LAST_ROLLBACK = "mlops.last_rollback"  # JSON: which version was rolled back to which, and when

# Artifacts of a training run
ARTIFACT_MODEL = "model"  # the MLflow model (name= in log_model)
ARTIFACT_REFERENCE = "reference/reference.parquet"  # training sample: monitoring's drift reference
ARTIFACT_MODEL_CARD = "model_card/model_card.html"


def model_name(project: str) -> str:
    return project


def model_uri(project: str, alias: str = CHAMPION) -> str:
    return f"models:/{model_name(project)}@{alias}"


def alias_version(client: MlflowClient, project: str, alias: str) -> str | None:
    """The version number holding ``alias``, or None if no version has it (or there is no model yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name(project), alias).version)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
            return None
        raise


def champion_version(client: MlflowClient, project: str) -> str | None:
    """The version number holding the champion alias, or None if there is no champion (or no model yet)."""
    return alias_version(client, project, CHAMPION)
