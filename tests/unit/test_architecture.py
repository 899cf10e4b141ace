"""The layout's rules hold, and the import contracts really catch what they forbid.

`make check` runs import-linter on the tree as it is; these tests show that the contracts are not
vacuous (a forbidden import added to a copy of the tree breaks them) and enforce what import-linter
cannot see: module and flow sizes, and settings read only at the edge (flows, CLI, local stack).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "src" / "featurelake"
FLOWS = ROOT / "flows"
#: Where settings may be read from the environment: the edges that start work.
SETTINGS_READERS = ("cli", "local", "settings.py")

#: (file to append to, line to append, contract name that must break)
INJECTIONS = [
    ("src/featurelake/build/chunks.py", "import mlflow", "mlflow (and skops"),
    ("src/featurelake/build/plan.py", "import great_expectations", "great_expectations only"),
    ("src/featurelake/ingest/watcher.py", "import deltalake", "deltalake only"),
    ("src/featurelake/retrieve/featurestore.py", "import boto3", "boto3 and botocore only"),
    ("src/featurelake/observe/status.py", "import prefect", "Prefect's client APIs only"),
    ("src/featurelake/validate/gate.py", "import sklearn", "scikit-learn only"),
    ("src/featurelake/core/refs.py", "from featurelake.io.delta import store", "layers:"),
    ("src/featurelake/io/delta/registry.py", "from featurelake.io.aws import s3", "adapters stand alone"),
    ("src/featurelake/core/naming.py", "from featurelake.core import featureset", "no import cycles"),
    ("features/customer_txn.py", "from featurelake.io.delta.store import DeltaStore", "features are pure"),
    ("src/featurelake/train/promotion.py", "from features import sources", "nothing imports flows"),
    ("src/featurelake/lineage/jobs.py", "import httpx", "httpx only"),
]


def _copy_tree(destination: Path) -> None:
    for name in ("src", "features", "flows"):
        shutil.copytree(ROOT / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
    command = [str(Path(sys.executable).parent / "lint-imports"), "--config", str(tree / "pyproject.toml")]
    return subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, timeout=300, check=False)


def _broken_contracts(output: str) -> str:
    """The contract summary lines import-linter marks BROKEN (names may wrap onto two lines)."""
    summary = output.split("Broken contracts")[0]
    return " ".join(summary.split())


def test_each_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    for relative, line, _ in INJECTIONS:
        target = tmp_path / relative
        if not target.exists():  # the module moved: the injection must still land in that package
            target = next(target.parent.glob("*.py"))
        target.write_text(target.read_text() + f"\n{line}  # injected by test_architecture\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    summary = _broken_contracts(result.stdout)
    for relative, line, contract in INJECTIONS:
        broken = [part for part in summary.split(" KEPT") if contract in part and "BROKEN" in part]
        assert broken, f"adding {line!r} to {relative} did not break the contract {contract!r}:\n{result.stdout}"


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    result = _lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout


def _python_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("path", _python_files(LIBRARY) + _python_files(FLOWS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_300_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 300


@pytest.mark.parametrize("path", _python_files(FLOWS), ids=lambda p: str(p.relative_to(ROOT)))
def test_flow_modules_are_recipes(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert len(path.read_text().splitlines()) <= 80
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    long = {f.name: f.end_lineno - f.lineno + 1 for f in functions if (f.end_lineno or 0) - f.lineno + 1 > 40}
    assert not long, f"flow functions over 40 lines: {long}"
    flows = [f for f in functions if any("flow" in ast.unparse(d) for d in f.decorator_list)]
    assert len(flows) <= 1, "one flow per module"


def test_settings_are_read_only_at_the_edges() -> None:
    readers = []
    for path in _python_files(LIBRARY):
        relative = path.relative_to(LIBRARY)
        if relative.parts[0] in SETTINGS_READERS:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "get_settings"
            ):
                readers.append(f"{relative}:{node.lineno}")
    assert not readers, f"library code reads the global settings instead of taking them as a parameter: {readers}"
