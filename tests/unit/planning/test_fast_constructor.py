"""planning.model.fast_constructor: the cheap constructor of the plan's frozen dataclasses."""

from __future__ import annotations

import dataclasses

import pytest

from dr_orchestrator.planning.inputs import ServiceInput, new_service_input
from dr_orchestrator.planning.model import PlannedStep, ServicePlan, new_planned_step, new_service_plan


def test_it_equals_the_constructor_defaults_included() -> None:
    step = dict(service="db", index=0, name="start", kind="shell", estimate_s=5.0)
    assert new_planned_step(**step) == PlannedStep(**step)
    assert repr(new_planned_step(**step)) == repr(PlannedStep(**step))
    plan = dict(name="db", steps=(PlannedStep(**step),), depends_on=(), wave=0, duration_s=5.0,
                start_s=0.0, finish_s=5.0)
    made = new_service_plan(**plan)
    assert made == ServicePlan(**plan) and made.rto_ok is None and made.critical is False
    assert new_service_input(name="db") == ServiceInput(name="db")


def test_made_instances_stay_frozen_and_hashable() -> None:
    made = new_planned_step(service="db", index=0, name="start", kind="shell", estimate_s=5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]
    assert hash(made) == hash(PlannedStep(service="db", index=0, name="start", kind="shell", estimate_s=5.0))


def test_unknown_or_missing_fields_are_type_errors() -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        new_service_input(name="db", colour="red")
    with pytest.raises(TypeError, match="missing 1 required"):
        new_planned_step(service="db", index=0, name="start", kind="shell")
    with pytest.raises(TypeError):
        new_service_input("db")  # keyword-only, like nothing positional can be mixed up
