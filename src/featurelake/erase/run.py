"""Erase one data subject of one source: the steps, in the order that makes a re-run finish the job.

1. **Locate** the subject's rows, live or in files older versions keep (:mod:`.locate`).
2. **Suppress**: list the subject's record hashes, so an ingest from now on drops their rows.
3. **Delete** from bronze, quarantine and derived tables; **rebuild** the feature days their
   events reached (a publish through the gate); serve the rebuilt versions **online** and
   delete the subject's items. Repeated while a concurrent ingest that read the suppression
   list too early brought the subject back.
4. **Raw objects**: rewritten without the subject by the break-glass principal, all versions
   (when asked; else listed).
5. **Models** trained on versions whose files held the subject are tagged.
6. **Purge** those files, then **scrub** the Delta logs and checkpoints (:mod:`.physical`).
7. **Log** the request (append-only, hashes only) and emit ``featurelake.subject.erased``.

Every step is idempotent and finds its work from the lake as it is, so a crash anywhere is
completed by running the same request again. A dry run stops after planning.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date

from featurelake.core import commits
from featurelake.core.catalog import Catalog
from featurelake.core.erasure import Needles, Subject, matching_values
from featurelake.core.naming import ERASURE_REQUESTS_PATH
from featurelake.erase import features, lake, models, physical, raw, record, request
from featurelake.erase.ingest_log import reconcile_ingest_log
from featurelake.erase.locate import Located, locate
from featurelake.ingest.suppression import add_suppression
from featurelake.io.aws.online_store import OnlineStore
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.secrets import PiiKeys
from featurelake.settings import Settings

#: How many times the logical erasure runs before giving up on a subject that keeps coming back.
MAX_PASSES = 3


class ErasureIncompleteError(RuntimeError):
    """The subject kept reappearing in a table's latest snapshot (see the message); run the request again."""


@dataclasses.dataclass(frozen=True)
class Context:
    """What an erasure works with: settings, lake, catalog, keys, online store, who acts."""

    settings: Settings
    store: DeltaStore
    found: Catalog
    keys: PiiKeys
    actor: str
    online: OnlineStore | None = None
    #: Rewrite raw objects with the break-glass principal (else they are only listed).
    rewrite_raw: bool = False
    #: Emit ``featurelake.subject.erased`` (needs a Prefect API).
    announce: bool = True

    def metadata(self, subject: Subject) -> dict[str, str]:
        """What every commit of this erasure carries (:func:`featurelake.erase.lake.erasure_metadata`)."""
        return lake.erasure_metadata(subject.request_id, self.actor)


def erase(context: Context, subject: Subject, *, dry_run: bool = False) -> record.ErasureOutcome:
    """Carry out (or, with ``dry_run``, plan) the erasure of ``subject``; see the module docstring."""
    outcome = record.ErasureOutcome.start(subject, context.actor, dry_run=dry_run)
    if context.keys.missing:
        outcome.notes.append(f"rows hashed under retired key(s) {list(context.keys.missing)} cannot be matched")
    located = locate(context.store, context.found, subject, context.keys.current_key)
    if not located.found and not located.on_storage:
        return _nothing_left(context, subject, outcome, dry_run)
    days = {spec.ref: located.days(spec) for spec in located.feature_sets}
    outcome.feature_days = {ref: [f"{a}..{b}" for a, b in ranges] for ref, ranges in days.items() if ranges}
    if dry_run:
        return _planned(context, located, days, outcome)
    metadata = context.metadata(subject)
    add_suppression(context.store, subject, subject.request_id)
    lake.limit_statistics(context.store, context.found.sources[subject.source], metadata)
    located, plan = _logical(context, located, days, outcome)
    _raw_objects(context, located, outcome)
    reconcile_ingest_log(context.store, subject.source, list(located.raw_keys), outcome.new_etags, metadata)
    outcome.models_affected = models.affected_models(
        context.settings, context.store, context.found, plan, subject.source
    )
    models.tag_affected(context.settings, outcome.models_affected, subject.request_id)
    outcome.files_vacuumed = physical.purge(context.store, plan)
    _scrub(context, located, plan, outcome)
    log_version = record.append_log(context.store, outcome)
    _drop_pending(context, subject)
    if context.announce:
        record.announce_erased(outcome, log_version)
    return outcome


def _nothing_left(
    context: Context, subject: Subject, outcome: record.ErasureOutcome, dry_run: bool
) -> record.ErasureOutcome:
    """The lake holds nothing of the subject: already erased (maybe raw objects left to rewrite), or never there."""
    previously = record.logged(context.store, subject.request_id)
    if previously is None:
        outcome.notes.append(
            f"nothing to erase: source {subject.source!r} holds no {subject.column} equal to the subject"
        )
        return outcome
    outcome.notes.append(f"already erased (erasure log row of {previously['completed_at']})")
    pending = [str(r["key"]) for r in json.loads(str(previously["raw_objects"])) if r.get("rewritten") is False]
    if pending and context.rewrite_raw and not dry_run:
        _rewrite(context, subject, pending, outcome)
        reconcile_ingest_log(context.store, subject.source, pending, outcome.new_etags, context.metadata(subject))
        record.append_log(context.store, outcome, record.RAW_OBJECTS)
    elif pending:
        outcome.raw_objects = [{"key": k, "rewritten": False} for k in pending]
        outcome.notes.append(f"{len(pending)} raw object(s) still hold the subject: run again with --rewrite-raw")
    return outcome


def _logical(
    context: Context, located: Located, days: dict[str, list[tuple[date, date]]], outcome: record.ErasureOutcome
) -> tuple[Located, physical.PurgePlan]:
    """Delete, rebuild, serve online; again while a table's latest snapshot still holds the subject."""
    metadata = context.metadata(located.subject)
    for _ in range(MAX_PASSES):
        for path, deleted in lake.delete_located(context.store, located, metadata).items():
            outcome.rows_removed[path] = outcome.rows_removed.get(path, 0) + deleted.rows_deleted
            if deleted.version is not None:
                outcome.versions_written[path] = deleted.version
        specs = located.feature_sets
        audit = {k: v for k, v in metadata.items() if k != commits.OPERATION}  # a rebuild's commit is a publish
        rebuilt_all = features.rebuild_all(context.settings, context.store, specs, audit, context.actor)
        for spec, rebuilt in zip(specs, rebuilt_all, strict=True):
            if rebuilt.wrote:
                outcome.versions_written[spec.table_path] = rebuilt.delta_version
        if context.online is not None:
            erased = features.erase_online(context.store, context.online, located.feature_sets, located.rows)
            outcome.online_items_deleted += sum(e.items_deleted for e in erased)
        plan = physical.plan_purge(context.store, located, days)
        again = locate(context.store, context.found, located.subject, context.keys.current_key)
        if not plan.still_live and not again.found:
            return again if again.on_storage else located, plan
        located = again
    raise ErasureIncompleteError(
        f"erasure {located.subject.request_id}: the subject reappeared in {list(plan.still_live)} {MAX_PASSES} times "
        "(a concurrent ingest); the suppression list is in place now: run the same request again"
    )


def _raw_objects(context: Context, located: Located, outcome: record.ErasureOutcome) -> None:
    """Rewrite (or list) the raw objects the subject's rows came from; record the new ETags."""
    if not located.raw_keys:
        return
    subject = located.subject
    if not context.rewrite_raw:
        outcome.raw_objects = [{"key": k, "rewritten": False} for k in located.raw_keys]
        outcome.notes.append(
            f"{len(located.raw_keys)} raw object(s) hold the subject and were not rewritten: run again with the "
            "break-glass principal (--rewrite-raw); the suppression list keeps them out of the lake meanwhile"
        )
        return
    _rewrite(context, subject, list(located.raw_keys), outcome)


def _rewrite(context: Context, subject: Subject, keys: list[str], outcome: record.ErasureOutcome) -> None:
    """Rewrite ``keys`` without the subject's rows, as the break-glass principal; record each object in ``outcome``."""
    key = context.keys.current_key
    as_raw = dataclasses.replace(subject, kind="plain")  # raw objects hold the value itself, whatever the lake does

    def is_subject(values: list[str]) -> set[str]:
        return set(matching_values(values, as_raw, key))

    rewrites = raw.rewrite_raw_objects(context.settings, keys, subject.column, is_subject, dry_run=False)
    outcome.raw_objects = [dataclasses.asdict(r) for r in rewrites]


def _scrub(context: Context, located: Located, plan: physical.PurgePlan, outcome: record.ErasureOutcome) -> None:
    """Scrub the logs of every table the erasure changed or purged."""
    subject = located.subject
    plain = sorted(located.values) if subject.kind == "plain" else []
    needles = Needles(value=plain[0] if plain else None, hashes=subject.all_hashes)
    paths = set(plan.files) | set(outcome.versions_written) | {spec.table_path for spec in located.feature_sets}
    physical.scrub(context.store, paths, plan, needles, subject.request_id)
    if context.rewrite_raw:  # the break-glass principal is at hand: no noncurrent version may keep the subject
        gone = physical.purge_versions(context.settings, plan, paths)
        outcome.notes.append(f"{gone} noncurrent object version(s) of purged files and rewritten logs deleted")
    else:
        outcome.notes.append(
            "a versioned lake bucket keeps purged files and old log entries as noncurrent versions until its "
            "lifecycle rule expires them; run again with --rewrite-raw (the break-glass principal) to delete them now"
        )


def _planned(
    context: Context, located: Located, days: dict[str, list[tuple[date, date]]], outcome: record.ErasureOutcome
) -> record.ErasureOutcome:
    """The dry run's answer: rows per table, files that would be vacuumed, raw objects, models."""
    subject = located.subject
    if located.live_rows:
        outcome.rows_removed[f"bronze/{subject.source}"] = located.live_rows
    if located.quarantine_records:
        outcome.rows_removed[f"quarantine/{subject.source}"] = located.quarantine_records
    outcome.rows_removed |= located.derived_rows
    plan = physical.plan_purge(context.store, located, days, include_live=True)
    outcome.files_vacuumed = {path: sorted(files) for path, files in plan.files.items()}
    outcome.versions_written = {path: int(context.store.version(path) or 0) for path in plan.files}
    outcome.raw_objects = [{"key": k, "rewritten": False} for k in located.raw_keys]
    outcome.models_affected = models.affected_models(
        context.settings, context.store, context.found, plan, subject.source
    )
    return outcome


def _drop_pending(context: Context, subject: Subject) -> None:
    """Remove a deployment request's row once done, with every file that held it and their log statistics.

    The row holds the subject's data hashes: found and purged like the subject's own rows.
    """
    path = ERASURE_REQUESTS_PATH
    if request.drop_pending(context.store, subject.request_id, context.metadata(subject)) is None:
        return
    held = physical.holding_files(context.store, path, "request_id", frozenset({subject.request_id}))
    plan = physical.PurgePlan({path: held} if held else {})
    physical.purge(context.store, plan)
    physical.scrub(context.store, [path], plan, Needles(None, subject.all_hashes), subject.request_id)
