"""Validation: featurelake's gate on the built customer_txn rows against Great Expectations on pandas.

* ``featurelake``: ``validate_batch(CUSTOMER_TXN, features, input_rows, user_expectations)`` as
  the build flow calls it, whatever engine it uses by default; the timed call starts from the
  polars frame, so it includes any conversion the gate makes;
* ``featurelake-alt``: the same call with the other engine the gate offers (its ``engine`` or
  ``validation_engine`` keyword; skipped, and recorded as such, while there is none);
* ``gx-pandas``: the same suite (``build_suite``) run by GX 1.x directly on a pandas frame
  converted beforehand (untimed: a GX user would already hold pandas), SUMMARY results.

GX is imported before the clock starts in every engine (5–9 s that are start-up, not work).
Every engine's per-expectation verdicts are compared; the report also gives validation time as
a share of featurelake's build time (target ≤ 15 %).
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any

from harness import Job

from stages.base import Context, Engine, Stage, Target, Unavailable

STAGE = "validation"
ALT_ENGINE = "featurelake-alt"


def load_inputs(ctx: Context) -> tuple[Any, Any, int, list[dict[str, Any]]]:
    """The spec, the feature rows, the build's input row count and the owner's expectations file."""
    import great_expectations  # noqa: F401  (import before timing: seconds of start-up)
    import polars as pl

    from featurelake.core import catalog
    from featurelake.validate.gate import load_user_expectations
    from features.customer_txn import CUSTOMER_TXN

    features = pl.read_parquet(ctx.data_dir / "features.parquet")
    input_rows = int(ctx.artifacts()["features"]["build_input_rows"])
    user = load_user_expectations(catalog.load("features").expectations_path(CUSTOMER_TXN))
    return CUSTOMER_TXN, features, input_rows, user


def engine_option() -> tuple[str | None, object, list[str]]:
    """``validate_batch``'s engine keyword (``engine`` or ``validation_engine``), its default and choices.

    The choices come from the keyword's ``Literal`` type; (None, None, []) when there is no such keyword.
    """
    from featurelake.validate.gate import validate_batch

    parameters = inspect.signature(validate_batch).parameters
    keyword = next((k for k in ("engine", "validation_engine") if k in parameters), None)
    if keyword is None:
        return None, None, []
    hint = typing.get_type_hints(validate_batch).get(keyword)
    return keyword, parameters[keyword].default, [c for c in typing.get_args(hint) if isinstance(c, str)]


def prepare_featurelake(ctx: Context) -> Job:
    """The gate as the build flow calls it: no engine option, so whatever is the default."""
    from featurelake.validate.gate import validate_batch

    _, default, _ = engine_option()
    spec, features, input_rows, user = load_inputs(ctx)
    variant = f"default: {default}" if default is not None else ""
    return Job(lambda: validate_batch(spec, features, input_rows, user), variant=variant)


def prepare_alternative(ctx: Context) -> Job:
    """The gate with its other engine (the first choice that is not the default)."""
    from featurelake.validate.gate import validate_batch

    keyword, default, choices = engine_option()
    others = [c for c in choices if c != default]
    if keyword is None or not others:
        raise Unavailable(f"featurelake's validate_batch offers no other validation engine ({keyword}: {choices})")
    spec, features, input_rows, user = load_inputs(ctx)
    options = {keyword: others[0]}
    return Job(lambda: validate_batch(spec, features, input_rows, user, **options), variant=f"{keyword}={others[0]}")


def prepare_gx(ctx: Context) -> Job:
    """GX on pandas, the suite featurelake derives from the spec, no featurelake code at run time."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from featurelake.validate.gate import build_suite

    spec, features, input_rows, user = load_inputs(ctx)
    frame = features.to_pandas()

    def run() -> Any:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        suite = build_suite(spec, input_rows, user, context)
        asset = context.data_sources.add_pandas(name="bench").add_dataframe_asset(name="batch")
        batch = asset.add_batch_definition_whole_dataframe(name="whole").get_batch(
            batch_parameters={"dataframe": frame}
        )
        return batch.validate(suite, result_format="SUMMARY")

    return Job(run)


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """Per expectation (type and arguments): success and, where GX reports it, the unexpected count."""
    found = {}
    for item in result.get("results", []):
        config = item["expectation_config"]
        arguments = {k: v for k, v in sorted(config.get("kwargs", {}).items()) if k != "batch_id"}
        details = item.get("result") or {}
        found[f"{config['type']}({json.dumps(arguments, default=str)})"] = {
            "success": bool(item["success"]),
            "unexpected_count": details.get("unexpected_count"),
        }
    return found


def save(ctx: Context, engine: str, result: Any) -> None:
    """The verdicts as JSON, from a featurelake outcome or a GX validation result alike."""
    if hasattr(result, "suite_hash"):  # featurelake's ValidationOutcome
        document = {"success": result.success, "failed": sorted(result.failed), "verdicts": verdicts(result.result)}
    else:
        document = {"success": bool(result.success), "verdicts": verdicts(result.to_json_dict())}
    ctx.output(STAGE, engine, ".json").write_text(json.dumps(document, indent=2, sort_keys=True))


def verify(ctx: Context, engines: list[str]) -> dict[str, Any]:
    """Every engine passes or fails the same expectations, with the same unexpected counts."""
    documents = {e: json.loads(ctx.output(STAGE, e, ".json").read_text()) for e in engines}
    reference_name, reference = next(iter(documents.items()))
    problems = []
    for engine, document in documents.items():
        if document["success"] != reference["success"]:
            problems.append(f"{engine} says success={document['success']}, {reference_name} {reference['success']}")
        mine, theirs = document["verdicts"], reference["verdicts"]
        if mine and theirs and mine != theirs:
            differing = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
            problems.append(f"{engine} and {reference_name} differ on {differing[:3]}")
    if problems:
        raise SystemExit("VALIDATION RESULTS DISAGREE:\n  " + "\n  ".join(problems))
    return {
        "compared": engines,
        "success": reference["success"],
        "expectations": len(reference["verdicts"]),
    }


STAGES = (
    Stage(
        name=STAGE,
        title="validation (GX suite on the built features)",
        engines=(
            Engine("featurelake", prepare_featurelake, save, "validate_batch(...) as the build flow calls it"),
            Engine(ALT_ENGINE, prepare_alternative, save, "validate_batch(..., engine=<the other>)", max_runs=2),
            Engine("gx-pandas", prepare_gx, save, "GX 1.x, same suite, pandas frame given", max_runs=2),
        ),
        requires=("features",),
        input_bytes=lambda artifacts: int(artifacts["features"]["features_bytes"]),
        verify=verify,
        targets=(Target("featurelake", "share_of:build", "<=", 0.15, "validation ≤ 15 % of build"),),
        notes="input: the customer_txn feature rows (keys + 12 features)",
    ),
)
