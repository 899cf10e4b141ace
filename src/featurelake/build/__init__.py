"""Build: the days a bronze change reaches are recomputed, gated and published as one feature table version.

In the order a build runs:

- :mod:`~featurelake.build.plan`: which days to recompute since the last publish, in day chunks.
- :mod:`~featurelake.build.budget`: how many source rows a chunk may read under the memory budget.
- :mod:`~featurelake.build.source`: what a build reads from bronze (version, chunk windows, lineage).
- :mod:`~featurelake.build.chunks`: one chunk: read, compute, gate, write (or quarantine).
- :mod:`~featurelake.build.quarantine`: where a failed chunk's rows are kept, with why.
- :mod:`~featurelake.build.batch`: the chunks' results as one batch and one gate verdict.
- :mod:`~featurelake.build.publish`: the publish protocol: which commit is the publish, and what each records.
- :mod:`~featurelake.build.audit`, :mod:`~featurelake.build.record`,
  :mod:`~featurelake.build.announcements`, :mod:`~featurelake.build.report`: the commit audit,
  the MLflow build run, the events and the UI reports of a publish.
- :mod:`~featurelake.build.backfill`: rebuild a range of days outside the incremental flow.
"""
