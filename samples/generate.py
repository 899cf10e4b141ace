"""Write the example project's sample raw files (``featurelake check --samples samples/``).

Deterministic: the demo's synthetic generator with a fixed seed, shrunk to 20 customers over six
days (a few hundred transactions), laid out as in the raw bucket. The demo's CSV day with two
malformed rows and two of its problem objects go under ``transactions/bad/``, where the check
expects them to be quarantined. Regenerate with::

    uv run --frozen python samples/generate.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

from featurelake.local.synthetic import generate, problem_objects, raw_objects

HERE = Path(__file__).parent
SEED, CUSTOMERS, MERCHANTS, DAYS = 7, 20, 6, 6
#: From the demo's problem objects: a truncated parquet file and a CSV with an undeclared column.
PROBLEMS = {
    "transactions/late/truncated.parquet": "truncated.parquet",
    "transactions/late/new-column.csv": "new-column.csv",
}


def sample_objects() -> dict[str, bytes]:
    """The sample files, keyed by their path under ``samples/``."""
    data = generate(seed=SEED, customers=CUSTOMERS, merchants=MERCHANTS, days=DAYS)
    objects: dict[str, bytes] = {}
    for key, body in raw_objects(data).items():
        if b"bad-amount" in body:  # the day raw_objects gives two malformed rows
            source, rest = key.split("/", 1)
            key = f"{source}/bad/{rest.replace('/', '-')}"
        objects[key] = body
    problems = problem_objects(data)
    objects.update({f"transactions/bad/{name}": problems[key] for key, name in PROBLEMS.items()})
    return objects


def main() -> None:
    """Regenerate every sample file from the seeded sample objects."""
    for source in {key.split("/", 1)[0] for key in sample_objects()}:
        shutil.rmtree(HERE / source, ignore_errors=True)
    for key, body in sample_objects().items():
        path = HERE / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        print(f"wrote {path.relative_to(HERE)} ({len(body)} bytes)")


if __name__ == "__main__":
    main()
