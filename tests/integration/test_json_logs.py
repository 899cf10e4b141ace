"""Structured logs for a SIEM: with Prefect's JSON formatter switched on, every console line of a
flow run is one JSON object carrying the flow run's id, name, level and message."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from featurelake.settings import Settings


def test_flow_logs_come_out_as_one_json_object_per_line(settings: Settings) -> None:
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER": "json",  # the documented switch
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    code = "from flows.watch import watch_raw; watch_raw()"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses: nothing unstructured leaks
    ours = [r for r in records if str(r.get("msg", "")).startswith("pending raw objects announced")]
    assert len(ours) == 1
    assert ours[0]["levelname"] == "INFO"
    assert ours[0]["flow_run_id"]
    assert ours[0]["flow_run_name"]
