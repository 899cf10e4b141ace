"""The audit trail of a build: which run, deployment and code made a commit, and who undid it.

The orchestrator knows the facts (run id, deployment, UI link); the flow passes them in, so
nothing here knows Prefect. The same keys go into every commit of the build and into its
MLflow run's tags (see :mod:`featurelake.core.commits`).
"""

from __future__ import annotations

from dataclasses import dataclass

from featurelake.core import commits

#: What the audit names as the deployment of a flow called directly (not from a deployment).
RUN_DIRECTLY = "(none: run directly)"
#: Why a build that failed after writing restores its table (the rollback commit's reason).
WITHDRAWN = "the build failed after publishing; its batch is withdrawn"


@dataclass(frozen=True)
class RunFacts:
    """The run that builds: its id, its deployment (None: run directly) and its link in the UI."""

    flow_run_id: str
    deployment: str | None = None
    ui_url: str | None = None

    @property
    def actor(self) -> str:
        """Who the registry and a rollback name as having acted: ``flow-run/<id>``."""
        return f"flow-run/{self.flow_run_id}"

    def audit(self, fingerprint: str, code_revision: str) -> dict[str, str]:
        """The metadata every commit of the build carries: run, deployment, UI link, definition and code."""
        return {
            commits.FLOW_RUN_ID: self.flow_run_id,
            commits.DEPLOYMENT: str(self.deployment or RUN_DIRECTLY),
            commits.FLOW_RUN_URL: str(self.ui_url or ""),
            commits.FINGERPRINT: fingerprint,
            commits.CODE_REVISION: code_revision,
        }

    def withdrawal_metadata(self) -> dict[str, str]:
        """What the rollback commit of a failed build adds to its own audit: the run that failed."""
        return {commits.FLOW_RUN_ID: self.flow_run_id}
