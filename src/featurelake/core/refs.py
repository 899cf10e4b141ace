"""Feature references: ``name:vN`` for a whole feature set, ``name:vN:feature`` for one column."""

from __future__ import annotations

import re
from dataclasses import dataclass

_REF = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*):v(?P<version>[1-9][0-9]*)(?::(?P<feature>[A-Za-z_][A-Za-z0-9_]*))?$"
)


@dataclass(frozen=True)
class FeatureRef:
    """A parsed reference; ``feature`` is None when the whole feature set is meant."""

    name: str
    version: int
    feature: str | None = None

    @classmethod
    def parse(cls, text: str) -> FeatureRef:
        """Parse ``customer_txn:v2`` or ``customer_txn:v2:amount_sum_7d``.

        Raises:
            ValueError: quoting the text and the expected form.
        """
        match = _REF.match(text.strip())
        if match is None:
            raise ValueError(
                f"bad feature reference {text!r}: expected '<feature_set>:v<version>' "
                "or '<feature_set>:v<version>:<feature>', e.g. 'customer_txn:v1:amount_sum_7d'"
            )
        return cls(match["name"], int(match["version"]), match["feature"])

    @property
    def set_ref(self) -> str:
        """The feature set part, e.g. ``customer_txn:v2``."""
        return f"{self.name}:v{self.version}"

    def __str__(self) -> str:
        return self.set_ref if self.feature is None else f"{self.set_ref}:{self.feature}"
