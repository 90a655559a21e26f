"""The architecture's checked contracts: the import layers and the one registry type.

The layers of docs/architecture.md are import-linter contracts in pyproject.toml
(``[tool.importlinter]``); this file runs them (``lint-imports``, installed by the ``dev`` extra),
so the README's test command, and CI with it, fails when a module imports across a layer, and
prints the linter's chain of imports. Imports inside functions count.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, a dependency of import-linter there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sweep", "proxy_tasks", "reports")
#: modules no layer can name: a layer named "sweep" would be the whole tree. ``sweep`` holds its
#: version only; ``proxy_tasks`` re-exports ``proxy_tasks.spec.PROXY_TASKS`` and runs a task
#: through it (a registry lookup, no import of a task).
UNLAYERED = {"sweep", "proxy_tasks"}


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` of this venv (next to the running Python) on ``config``."""
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.fail(f"{exe} not found: install the dev extra (pip install -e '.[dev]')")
    return subprocess.run(
        [str(exe), "--no-cache", "--no-logo", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_hold():
    res = lint_imports(ROOT / "pyproject.toml")
    assert res.returncode == 0, f"import contracts broken:\n{res.stdout}{res.stderr}"
    assert "0 broken" in res.stdout, res.stdout


def test_a_broken_contract_fails(tmp_path):
    """The check is not vacuous: an import that exists, forbidden, fails with its chain."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["sweep", "proxy_tasks", "reports"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "the schema without sweep.errors"\n'
        'type = "forbidden"\n'
        'source_modules = ["sweep.schema"]\n'
        'forbidden_modules = ["sweep.errors"]\n'
    )
    res = lint_imports(config)
    assert res.returncode != 0
    assert "sweep.schema is not allowed to import sweep.errors" in res.stdout, res.stdout


def modules() -> set[str]:
    out = set()
    for pkg in PACKAGES:
        for p in (ROOT / pkg).glob("**/*.py"):
            out.add(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"))
    return out


def layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [re.split(r"\s*[:|]\s*", layer.strip()) for layer in contract["layers"]]


def test_every_module_is_in_exactly_one_layer():
    """A new module outside every layer would escape the contract: place it in pyproject.toml
    (and in docs/architecture.md's table)."""
    named = [m for layer in layers() for m in layer]
    assert len(named) == len(set(named)), "a module is named in two layers"
    assert set(named) <= modules(), f"no such module: {sorted(set(named) - modules())}"
    for module in sorted(modules() - UNLAYERED):
        owners = [m for m in named if module == m or module.startswith(m + ".")]
        assert len(owners) == 1, f"{module} is in {len(owners)} layers (pyproject.toml)"


# ----------------------------------------------------------------------------- registries
def test_backends_samplers_and_pruners_are_registries():
    from proxy_tasks import PROXY_TASKS
    from proxy_tasks.downstream import DOWNSTREAMS
    from sweep.backends import BACKENDS
    from sweep.generators import GENERATORS
    from sweep.registry import Registry
    from sweep.samplers import PRUNERS, SAMPLERS
    from sweep.storage import STORAGE_KINDS

    for reg in (BACKENDS, SAMPLERS, PRUNERS, GENERATORS, PROXY_TASKS, DOWNSTREAMS, STORAGE_KINDS):
        assert isinstance(reg, Registry)
    assert SAMPLERS.names()[:3] == ["tpe", "random", "grid"]  # the file's order, as listed
    assert PRUNERS.names() == ["none", "median", "successive_halving", "hyperband"]
    assert SAMPLERS.target("tpe") == "optuna.samplers:TPESampler"  # nothing imported
    import optuna

    assert SAMPLERS.get("qmc") is optuna.samplers.QMCSampler
    assert PRUNERS.get("median") is optuna.pruners.MedianPruner


def test_one_backend_list_for_the_cli_the_schema_and_the_engine():
    from sweep.backends import BACKENDS
    from sweep.cliargs import backend_args
    from sweep.engine import backend as engine_backend
    from sweep.errors import SweepError
    from sweep.schema.engine import BackendSection

    p = argparse.ArgumentParser()
    backend_args(p)
    (action,) = [a for a in p._actions if a.dest == "backend"]
    assert list(action.choices) == BACKENDS.names() == ["local", "ray"]
    assert BackendSection.model_json_schema()["properties"]["name"]["enum"] == BACKENDS.names()
    assert engine_backend.BACKENDS is BACKENDS
    with pytest.raises(SweepError, match=r"unknown backend 'rya' \(did you mean 'ray'\?\)"):
        engine_backend.get_backend("rya")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "sampler: tp",
            "sampler: unknown sampler 'tp' (did you mean 'tpe'?); choose one of: "
            "tpe, random, grid, cmaes, gp, nsga2, nsga3, qmc",
        ),
        (
            "pruner: {name: medain}",
            "pruner.name: unknown pruner 'medain' (did you mean "
            "'median'?); choose one of: none, median, successive_halving, hyperband",
        ),
        (
            "backend: rai",
            "backend: unknown backend 'rai' (did you mean 'ray'?); choose one of: local, ray",
        ),
        (
            "proxy: {task: vitt}",
            "proxy.task: unknown proxy task 'vitt' (did you mean 'vit'?); "
            "choose one of: analytic, vit",
        ),
        # a name that is no string (unhashable): the same message, not a TypeError
        ("sampler: {name: [1]}", "sampler.name: unknown sampler [1]; choose one of: tpe, "),
        ("backend: {name: [1]}", "backend.name: unknown backend [1]; choose one of: local, ray"),
    ],
)
def test_the_schema_reads_names_from_the_registries(tmp_path, block, message):
    from sweep.schema.document import load_study_file
    from sweep.schema.errors import SchemaError

    path = tmp_path / "s.yaml"
    path.write_text(f"generator: {{name: visualatom}}\n{block}\n")
    with pytest.raises(SchemaError) as e:
        load_study_file(path)
    assert f"s.yaml:2: {message}" in str(e.value)


def test_the_formatter_formats_everything_but_the_published_tables():
    # Issue 21, item 5: 719 `# fmt: skip` markers let `ruff format --check` pass without
    # formatting. A marker is kept only on a published table compared with its source by eye,
    # with the reason on the line above it.
    root = Path(__file__).resolve().parents[1]
    allowed = {"sweep/generators/_perlin.py": 1}
    found: dict[str, int] = {}
    for folder in ("sweep", "proxy_tasks", "reports", "benchmarks", "tests"):
        for f in (root / folder).rglob("*.py"):
            lines = f.read_text().splitlines()
            n = sum(1 for ln in lines if ln.rstrip().endswith(("# fmt: skip", "# fmt: off")))
            if n:
                found[str(f.relative_to(root))] = n
    assert found == allowed, found
