"""Explicit state machines: one transition table per status field, kept next to its model."""

from collections.abc import Mapping

from .errors import TransitionNotAllowed


class TransitionTable:
    """Allowed moves of one status field; anything not listed is refused with a clear error."""

    def __init__(self, label: str, choices, moves: Mapping[str, set]):
        self.label = label
        self.choices = choices
        unknown = {s for s in moves} | {t for targets in moves.values() for t in targets}
        unknown -= set(choices.values)
        if unknown:
            raise ValueError(f"{label}: unknown states in transition table: {sorted(unknown)}")
        missing = set(choices.values) - set(moves)
        if missing:
            raise ValueError(f"{label}: states without an entry in the transition table: {sorted(missing)}")
        self.moves = {state: frozenset(targets) for state, targets in moves.items()}

    def allowed(self, current: str) -> frozenset:
        return self.moves[current]

    def can_move(self, current: str, target: str) -> bool:
        return target in self.moves.get(current, ())

    def check(self, current: str, target: str) -> None:
        if self.can_move(current, target):
            return
        allowed = sorted(self.moves.get(current, ()))
        where = ", ".join(allowed) if allowed else "nothing (it is final)"
        raise TransitionNotAllowed(
            f"{self.label} cannot move from {current} to {target}; from {current} it can move to {where}."
        )

    def is_final(self, state: str) -> bool:
        return not self.moves.get(state)


def transition(instance, field: str, table: TransitionTable, target: str) -> None:
    """Set `instance.<field>` to `target` if the table allows it (the caller saves)."""
    table.check(getattr(instance, field), target)
    setattr(instance, field, target)
