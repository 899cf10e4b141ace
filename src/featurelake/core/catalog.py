"""Find the feature sets, source contracts and model specs a project defines, by importing its package.

The library never imports feature definitions by name (the dependency rule); the CLI, the API and
the flows are told which package holds them (``FEATURELAKE_FEATURES_MODULE``, default
``features``) and collect every :class:`FeatureSet`, :class:`SourceContract` and
:class:`ModelSpec` defined at module level in it and its submodules. Adding a feature set or a
model is adding a module: there is no list to keep in sync.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from featurelake.core.contracts import SourceContract
from featurelake.core.featureset import FeatureSet
from featurelake.core.modelspec import ModelSpec, reference_problems


@dataclass(frozen=True)
class Catalog:
    """Everything a features package defines, keyed by ``name:vN``, source name and model name."""

    feature_sets: dict[str, FeatureSet] = field(default_factory=dict)
    sources: dict[str, SourceContract] = field(default_factory=dict)
    defined_in: dict[str, str] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    model_defined_in: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, version: int) -> FeatureSet:
        """One feature set version.

        Raises:
            KeyError: listing the known references.
        """
        ref = f"{name}:v{version}"
        try:
            return self.feature_sets[ref]
        except KeyError:
            raise KeyError(f"unknown feature set {ref}; known: {sorted(self.feature_sets)}") from None

    def get_model(self, name: str) -> ModelSpec:
        """The model spec registered under ``name``.

        Raises:
            KeyError: listing the model specs the features package declares.
        """
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"unknown model {name!r}; the features package declares {sorted(self.models)}") from None

    def models_reading(self, feature_set_ref: str) -> list[ModelSpec]:
        """The models a publish of ``feature_set_ref`` (``name:vN``) retrains: those whose references read it."""
        return [spec for _, spec in sorted(self.models.items()) if spec.uses(feature_set_ref)]

    def expectations_path(self, spec: FeatureSet) -> Path:
        """Where the owner keeps user expectations: ``<name>.v<version>.expectations.yaml`` beside the module."""
        module = importlib.util.find_spec(self.defined_in[spec.ref])
        origin = Path(module.origin) if module is not None and module.origin else Path(".")
        return origin.with_name(f"{spec.name}.v{spec.version}.expectations.yaml")

    def select_sources(self, names: list[str] | None) -> list[SourceContract]:
        """The named source contracts, or all of them sorted by name when ``names`` is empty.

        Raises:
            KeyError: naming the unknown sources and listing the declared ones.
        """
        unknown = sorted(set(names or []) - set(self.sources))
        if unknown:
            raise KeyError(f"unknown source(s) {unknown}; the features package declares {sorted(self.sources)}")
        return [self.sources[name] for name in (names or sorted(self.sources))]


def discover(package: str) -> Catalog:
    """Import ``package`` and its submodules and collect their feature sets, sources and model specs.

    Raises:
        ValueError: when two modules define different feature sets under one reference or
            different models under one name, or a model reads what the package does not define.
    """
    catalog = Catalog()
    for module in _modules(importlib.import_module(package)):
        for value in vars(module).values():
            if isinstance(value, FeatureSet):
                _add(catalog, value, module.__name__)
            elif isinstance(value, SourceContract):
                catalog.sources.setdefault(value.name, value)
            elif isinstance(value, ModelSpec):
                _add_model(catalog, value, module.__name__)
    for model in catalog.models.values():
        problems = reference_problems(model, catalog.feature_sets)
        if problems:
            raise ValueError(f"model {model.name!r} ({catalog.model_defined_in[model.name]}): {'; '.join(problems)}")
    return catalog


def _modules(root: ModuleType) -> list[ModuleType]:
    """Submodules first, the package last: a re-export is attributed to the module that defines it."""
    modules = []
    if hasattr(root, "__path__"):
        for info in sorted(pkgutil.walk_packages(root.__path__, prefix=f"{root.__name__}."), key=lambda i: i.name):
            modules.append(importlib.import_module(info.name))
    return [*modules, root]


def _add(catalog: Catalog, spec: FeatureSet, module: str) -> None:
    existing = catalog.feature_sets.get(spec.ref)
    if existing is not None and existing is not spec:
        first, second = _where(catalog.defined_in[spec.ref], existing), _where(module, spec)
        raise ValueError(
            f"feature set {spec.ref} is defined twice, as {first} and as {second}, with different definitions: "
            "give one of them another version or name, or import one from the other's module instead"
        )
    if existing is None:
        catalog.feature_sets[spec.ref] = spec
        catalog.defined_in[spec.ref] = module
    catalog.sources.setdefault(spec.source.name, spec.source)  # a source a feature set reads is a declared source


def _where(module: str, value: object) -> str:
    """``module.NAME`` of a definition, for messages (the module when no top-level name holds it)."""
    names = [name for name, bound in vars(importlib.import_module(module)).items() if bound is value]
    return f"{module}.{names[0]}" if names else f"module {module}"


def _add_model(catalog: Catalog, spec: ModelSpec, module: str) -> None:
    """Register a model spec under its name; its label source counts as declared (ingest lands it)."""
    existing = catalog.models.get(spec.name)
    if existing is not None and existing is not spec:
        raise ValueError(
            f"model {spec.name!r} is defined twice, in {catalog.model_defined_in[spec.name]} and {module}; "
            "give one of them another name"
        )
    if existing is None:
        catalog.models[spec.name] = spec
        catalog.model_defined_in[spec.name] = module
    catalog.sources.setdefault(spec.labels.name, spec.labels)


@lru_cache(maxsize=8)
def load(package: str) -> Catalog:
    """:func:`discover`, once per process and package (flows and the CLI look specs up often)."""
    return discover(package)
