"""The code revision recorded with registry entries and builds."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def code_revision(cwd: Path | None = None) -> str:
    """``FEATURELAKE_CODE_REVISION`` when set (CI, images), else ``git describe --always --dirty``.

    Returns ``unknown`` outside a git checkout, so a missing revision is visible, not empty.
    """
    explicit = os.environ.get("FEATURELAKE_CODE_REVISION")
    if explicit:
        return explicit
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip() or "unknown"
