"""spotopt.states: transition tables refuse to be built wrong and refuse moves they do not list."""

import pytest
from django.db import models

from spotopt.errors import DomainError, TransitionNotAllowed
from spotopt.states import TransitionTable, transition


class Light(models.TextChoices):
    RED = "RED", "Red"
    GREEN = "GREEN", "Green"
    YELLOW = "YELLOW", "Yellow"
    BROKEN = "BROKEN", "Broken"


def light_table():
    return TransitionTable(
        "Traffic light",
        Light,
        {
            Light.RED: {Light.GREEN, Light.BROKEN},
            Light.GREEN: {Light.YELLOW, Light.BROKEN},
            Light.YELLOW: {Light.RED, Light.BROKEN},
            Light.BROKEN: set(),
        },
    )


class Thing:
    def __init__(self, state):
        self.state = state


def test_table_with_an_unknown_source_state_is_refused():
    with pytest.raises(ValueError, match=r"Traffic light: unknown states in transition table: \['PURPLE'\]"):
        TransitionTable(
            "Traffic light",
            Light,
            {Light.RED: set(), Light.GREEN: set(), Light.YELLOW: set(), Light.BROKEN: set(), "PURPLE": set()},
        )


def test_table_with_an_unknown_target_state_is_refused():
    with pytest.raises(ValueError, match=r"unknown states in transition table: \['BLUE'\]"):
        TransitionTable(
            "Traffic light",
            Light,
            {Light.RED: {"BLUE"}, Light.GREEN: set(), Light.YELLOW: set(), Light.BROKEN: set()},
        )


def test_table_missing_a_state_is_refused():
    with pytest.raises(ValueError, match=r"states without an entry in the transition table: \['BROKEN', 'YELLOW'\]"):
        TransitionTable("Traffic light", Light, {Light.RED: {Light.GREEN}, Light.GREEN: {Light.RED}})


def test_allowed_moves_and_final_states():
    table = light_table()
    assert table.allowed(Light.RED) == frozenset({"GREEN", "BROKEN"})
    assert table.can_move(Light.RED, Light.GREEN)
    assert not table.can_move(Light.RED, Light.YELLOW)
    assert not table.can_move(Light.RED, Light.RED)
    assert not table.can_move("UNKNOWN", Light.RED)
    assert table.is_final(Light.BROKEN)
    assert not table.is_final(Light.RED)


def test_forbidden_move_names_both_states_and_what_is_allowed():
    with pytest.raises(TransitionNotAllowed) as excinfo:
        light_table().check(Light.RED, Light.YELLOW)
    message = str(excinfo.value)
    assert message == ("Traffic light cannot move from RED to YELLOW; from RED it can move to BROKEN, GREEN.")
    assert excinfo.value.message == message
    assert excinfo.value.code == "transition_not_allowed"
    assert isinstance(excinfo.value, DomainError)


def test_move_out_of_a_final_state_says_it_is_final():
    with pytest.raises(
        TransitionNotAllowed, match=r"from BROKEN to RED; from BROKEN it can move to nothing \(it is final\)"
    ):
        light_table().check(Light.BROKEN, Light.RED)


def test_transition_sets_the_field_only_when_allowed():
    table = light_table()
    thing = Thing(Light.RED)
    transition(thing, "state", table, Light.GREEN)
    assert thing.state == Light.GREEN

    with pytest.raises(TransitionNotAllowed):
        transition(thing, "state", table, Light.RED)
    assert thing.state == Light.GREEN
