"""planning.model.make: the fast constructor of the plan's frozen dataclasses."""

from __future__ import annotations

import dataclasses

import pytest

from dr_orchestrator.planning.inputs import ServiceInput
from dr_orchestrator.planning.model import PlannedStep, ServicePlan, make


def test_make_equals_the_constructor_defaults_included() -> None:
    step = dict(service="db", index=0, name="start", kind="shell", estimate_s=5.0)
    assert make(PlannedStep, **step) == PlannedStep(**step)
    plan = dict(name="db", steps=(PlannedStep(**step),), depends_on=(), wave=0, duration_s=5.0,
                start_s=0.0, finish_s=5.0)
    made = make(ServicePlan, **plan)
    assert made == ServicePlan(**plan) and made.rto_ok is None and made.critical is False
    assert make(ServiceInput, name="db") == ServiceInput(name="db")


def test_made_instances_stay_frozen_and_hashable() -> None:
    made = make(PlannedStep, service="db", index=0, name="start", kind="shell", estimate_s=5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]
    assert hash(made) == hash(PlannedStep(service="db", index=0, name="start", kind="shell", estimate_s=5.0))


def test_unknown_or_missing_fields_are_type_errors() -> None:
    with pytest.raises(TypeError, match="no field"):
        make(ServiceInput, name="db", colour="red")
    with pytest.raises(TypeError, match="needs field"):
        make(PlannedStep, service="db", index=0, name="start", kind="shell")
