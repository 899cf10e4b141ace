"""The stage registry: every stage ``bench/run.py`` knows, in the order it runs them.

A new stage (ingest, the whole pipeline) is a module with a ``STAGES`` tuple of
:class:`stages.base.Stage`, added to the tuple below; ``run.py`` needs no change. Stages whose
targets refer to another stage (``share_of:build``) must come after it.
"""

from __future__ import annotations

from stages import build, publish, training, training_shapes, validate
from stages.base import Stage

STAGES: dict[str, Stage] = {
    stage.name: stage for module in (build, validate, publish, training, training_shapes) for stage in module.STAGES
}
