"""The retrain decision as a pure function: each branch, and the order in which reasons win."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring.trigger import COOLDOWN, INSUFFICIENT, NO_DRIFT, RETRAIN, WAITING, TriggerFacts, decide, make_trigger

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def facts(**changes: object) -> TriggerFacts:
    base = TriggerFacts(
        drift_detected=True,
        champion_version="1",
        watermark=NOW - dt.timedelta(days=3),
        newest_labelled=NOW - dt.timedelta(days=1),
        new_labelled_rows=500,
        last_retrain_at=None,
        now=NOW,
        cooldown=dt.timedelta(minutes=30),
    )
    return TriggerFacts(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "action", "words"),
    [
        ({}, RETRAIN, "500 labelled rows newer"),
        ({"drift_detected": None}, INSUFFICIENT, "insufficient data"),
        ({"drift_detected": False}, NO_DRIFT, "no dataset drift"),
        ({"new_labelled_rows": 0, "newest_labelled": None}, WAITING, "drift, but no new labels: waiting"),
        ({"last_retrain_at": NOW - dt.timedelta(minutes=10)}, COOLDOWN, "cooldown until 12:20:00"),
        ({"last_retrain_at": NOW - dt.timedelta(minutes=31)}, RETRAIN, "labelled rows"),
        # cooldown wins over missing labels: the reason a person reads is the one that blocks first
        ({"last_retrain_at": NOW - dt.timedelta(minutes=1), "new_labelled_rows": 0}, COOLDOWN, "cooldown"),
    ],
)
def test_decide(changes: dict[str, object], action: str, words: str) -> None:
    decision = decide(facts(**changes))
    assert decision.action == action
    assert words in decision.reason
    assert decision.triggered is (action == RETRAIN)
    assert decision.facts["champion_version"] == "1", "the facts behind the decision are recorded with it"


def test_unknown_trigger_kind_is_named() -> None:
    with pytest.raises(ValueError, match=r"trigger kind 'cloud': expected one of local, kubernetes"):
        make_trigger("cloud", lambda ws: {})
