"""Validation errors shared by admin functions, the CLI and HTTP views."""

from __future__ import annotations


class ValidationError(ValueError):
    """Invalid input: names the field and the rule it broke, so the operator can fix it at once."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
