"""``featurelake deploy``: ``prefect deploy --all`` with one environment's values, checked first.

``prefect deploy`` leaves an unset ``{{ $NAME }}`` in place as literal text, so a forgotten
value becomes a work pool called ``{{ $FEATURELAKE_WORK_POOL }}`` or a task role that does not
exist, found only when a run fails. This wrapper fills the values (the environment file, the
CloudFormation stack's outputs, then the caller's environment), refuses when one is missing,
creates the dev process pool if needed, and runs the unmodified Prefect command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from featurelake.deploy.prefect_file import DEFAULT_PREFECT_FILE, STACK_OUTPUTS, environment_values, missing_values
from featurelake.io.aws.stacks import stack_outputs
from featurelake.settings import Settings

#: The environment whose work pool is a local process pool this command may create.
LOCAL_ENVIRONMENT = "dev"


def stack_values(settings: Settings, stack_name: str) -> dict[str, str]:
    """The placeholder values a CloudFormation stack's outputs provide (task role ARNs).

    Raises:
        KeyError: naming the outputs the stack lacks.
        ValueError: when the stack cannot be read.
    """
    outputs = stack_outputs(stack_name, settings.aws_region)
    missing = sorted(set(STACK_OUTPUTS) - set(outputs))
    if missing:
        raise KeyError(f"stack {stack_name!r} has no output(s) {missing}; was it created from infra/cloudformation?")
    return {placeholder: outputs[output] for output, placeholder in STACK_OUTPUTS.items()}


def deploy_environment(
    environment: str, extra: dict[str, str], prefect_file: Path = DEFAULT_PREFECT_FILE
) -> dict[str, str]:
    """The values to deploy ``environment`` with: its file, then ``extra``, then the process environment.

    Raises:
        ValueError: naming every placeholder without a value (outside dev, an empty one too).
    """
    values = environment_values(environment, extra)
    missing = missing_values(values, prefect_file, required=environment != LOCAL_ENVIRONMENT)
    if missing:
        raise ValueError(
            f"cannot deploy {environment!r}: no value for {missing}; set them in the environment, "
            f"in deployments/environments/{environment}.env, or pass --stack to read task roles from CloudFormation"
        )
    return values


def ensure_process_pool(name: str) -> bool:
    """Create the local ``process`` work pool unless it exists; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
            return True


def prefect_deploy(values: dict[str, str], prefect_file: Path = DEFAULT_PREFECT_FILE) -> int:
    """Run ``prefect --no-prompt deploy --all`` with ``values`` in its environment; its exit code.

    Its output goes straight to this process's, so each deployment shows as it is created. It
    talks to the API this process uses (``PREFECT_API_URL`` from the active Prefect settings).
    """
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL

    prefect = str(Path(sys.executable).parent / "prefect")
    command = [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)]
    api = {"PREFECT_API_URL": PREFECT_API_URL.value() or "", "PREFECT_API_KEY": PREFECT_API_KEY.value() or ""}
    env = {**os.environ, **{k: v for k, v in api.items() if v}, **values}
    return subprocess.run(command, env=env, check=False).returncode
