"""docs/ODD.md must match the code: every parameter and constant, its value, and every module named.

Run ``python tests/test_odd.py --write`` to regenerate the ODD's parameter table from
``sim.params.SPECS`` after a deliberate change of parameters (e.g. a new calibration).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.params import SPECS  # noqa: E402

ODD = ROOT / "docs" / "ODD.md"
BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"
HEADER = ("| name | default | range | unit | group | meaning | source |\n"
          "|---|---|---|---|---|---|---|")


def table_rows() -> list[str]:
    """The parameter table's rows as the code defines them."""
    return [f"| `{s.name}` | {s.default!r} | {s.low!r} to {s.high!r} | {s.unit} | {s.group} | "
            f"{s.meaning} | {s.source} |" for s in SPECS.values()]


def _table_section(text: str) -> str:
    assert BEGIN in text and END in text, f"{ODD} lacks the {BEGIN} ... {END} markers"
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def documented_rows(text: str) -> dict[str, str]:
    """Rows of the ODD's parameter table, by parameter name."""
    rows = {}
    for line in _table_section(text).splitlines():
        match = re.match(r"\| `(\w+)` \|", line)
        if match:
            rows[match.group(1)] = line.strip()
    return rows


def test_every_parameter_is_documented_and_nothing_else() -> None:
    documented = documented_rows(ODD.read_text())
    missing = sorted(set(SPECS) - set(documented))
    unknown = sorted(set(documented) - set(SPECS))
    assert not missing, f"parameters in sim.params but not in docs/ODD.md: {missing}"
    assert not unknown, f"parameters in docs/ODD.md that sim.params does not define: {unknown}"


def test_documented_defaults_ranges_and_sources_match_the_code() -> None:
    documented = documented_rows(ODD.read_text())
    stale = [row for row in table_rows()
             if documented.get(row.split("`")[1]) not in (None, row)]
    assert not stale, ("docs/ODD.md parameter rows differ from sim.params (run "
                       "`python tests/test_odd.py --write`):\n" + "\n".join(stale[:5]))


def test_parameters_used_in_equations_exist() -> None:
    """Names written as parameters in the ODD's equations (section 7) must exist."""
    text = ODD.read_text()
    submodels = text.split("## 7. Submodels", 1)[1].split("## 8.", 1)[0]
    snake = {re.sub(r"_u$", "", n)  # x_u: variable x of a unit
             for n in re.findall(r"\b([a-z]+(?:_[a-z]+)+)\b", submodels)}
    not_params = {n for n in snake if n not in SPECS}
    # Everything else named in snake_case must be a state variable, function or KPI in the code.
    code = "\n".join(p.read_text() for p in (ROOT / "sim").glob("*.py"))
    unknown = sorted(n for n in not_params if len(n) > 1 and not re.search(rf"\b{n}\b", code))
    assert not unknown, f"docs/ODD.md section 7 names things the code does not have: {unknown}"


# Modules whose numbers shape what the model does: their numeric constants are all documented.
MECHANISM_MODULES = ("encounters", "customers", "workforce", "leadership", "turnover", "finance",
                     "surveys", "population", "start", "organisation", "networks", "week",
                     "metrics", "state", "model", "agents")
CONSTANTS_BEGIN, CONSTANTS_END = "<!-- constants:begin -->", "<!-- constants:end -->"
NUMBER = r"-?\d+(?:\.\d+)?"


def _is_numeric(value: object) -> bool:
    """A number, or a table (mapping, tuple, list) of numbers, at any depth."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    items = value.values() if isinstance(value, dict) else value
    return isinstance(value, (dict, tuple, list)) and bool(value) and all(map(_is_numeric, items))


def rendered(value: object) -> str:
    """A constant as the ODD's constants table shows it: tables as ``key value`` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {item!r}" for key, item in value.items())
    return repr(value)


def code_constants() -> dict[str, tuple[str, object]]:
    """Upper-case numeric constants each mechanism module defines: name -> (module, value).

    Private names (a leading underscore) are the code's own bookkeeping, such as where a sum
    sits in an array, not numbers of the model.
    """
    import ast
    import importlib

    found: dict[str, tuple[str, object]] = {}
    for name in MECHANISM_MODULES:
        path = ROOT / "sim" / f"{name}.py"
        module = importlib.import_module(f"sim.{name}")
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                for leaf in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if (isinstance(leaf, ast.Name) and leaf.id.isupper()
                            and not leaf.id.startswith("_")):
                        value = getattr(module, leaf.id)
                        if hasattr(value, "_asdict"):  # a named tuple is a table, as a dict
                            value = value._asdict()
                        if _is_numeric(value):
                            found[leaf.id] = (f"sim/{name}.py", value)
    return found


def documented_constants(text: str) -> dict[str, tuple[str, str]]:
    """Rows of the ODD's constants table: name -> (module, value as shown)."""
    assert CONSTANTS_BEGIN in text and CONSTANTS_END in text, (
        f"{ODD} lacks the {CONSTANTS_BEGIN} ... {CONSTANTS_END} markers")
    section = text.split(CONSTANTS_BEGIN, 1)[1].split(CONSTANTS_END, 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([A-Z][A-Z_]*)` \| `([\w/.]+)` \| ([^|]*?) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_every_constant_is_documented_with_its_value() -> None:
    """Scalars and tables (e.g. QUALITY_FROM, NEW_HIRE) of the mechanisms match the ODD's table."""
    code = code_constants()
    documented = documented_constants(ODD.read_text())
    missing = sorted(set(code) - set(documented))
    unknown = sorted(set(documented) - set(code))
    assert not missing, f"numeric constants of the mechanisms not in docs/ODD.md: {missing}"
    assert not unknown, f"docs/ODD.md's constants table names what the code lacks: {unknown}"
    stale = [f"{name}: docs {documented[name]} != code ({module}, {rendered(value)})"
             for name, (module, value) in code.items()
             if documented[name] != (module, rendered(value))]
    assert not stale, "docs/ODD.md constants differ from the code:\n" + "\n".join(stale)


def test_constants_in_the_text_show_their_code_values() -> None:
    """Where the ODD's prose gives a constant's value (`NAME` = 0.5, `NAME` (0.5), or a table's
    `NAME` key 0.5, ...), the value is the code's."""
    text = ODD.read_text()
    prose = text.split(CONSTANTS_BEGIN, 1)[0] + text.split(CONSTANTS_END, 1)[1]
    wrong = []
    for name, (_, value) in code_constants().items():
        if isinstance(value, dict):
            for match in re.finditer(rf"`{name}`(?: =)? ((?:[a-z_]+\s+{NUMBER}(?:,\s+)?)+)", prose):
                for key, shown in re.findall(rf"([a-z_]+)\s+({NUMBER})", match.group(1)):
                    if value.get(key) != float(shown):
                        wrong.append(f"{name}: {key} {shown} (code: {value.get(key)!r})")
        elif not isinstance(value, (tuple, list)):
            for shown in re.findall(rf"`{name}`(?: = | \()({NUMBER})", prose):
                if float(shown) != value:
                    wrong.append(f"{name} = {shown} (code: {value!r})")
    assert not wrong, "docs/ODD.md shows constants with other values than the code: " + str(wrong)
    named = set(re.findall(r"`([A-Z][A-Z_]{3,})`", text))
    code = "\n".join(p.read_text() for p in (ROOT / "sim").glob("*.py"))
    unknown = sorted(c for c in named if not re.search(rf"\b{c}\b", code))
    assert not unknown, f"docs/ODD.md names constants the code does not have: {unknown}"


def test_every_module_named_in_the_odd_exists() -> None:
    named = set(re.findall(r"`((?:sim|experiments|tests)/[\w/]+\.py)`", ODD.read_text()))
    assert "sim/model.py" in named
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/ODD.md names modules that do not exist: {missing}"


def test_every_simulation_module_is_named_in_the_odd() -> None:
    text = ODD.read_text()
    process_modules = ("model", "params", "state", "agents", "population", "networks", "rng",
                       "leadership", "encounters", "customers", "workforce", "turnover",
                       "finance", "metrics", "scenario", "unit_analytics", "week", "start",
                       "surveys")
    unnamed = [m for m in process_modules if f"`sim/{m}.py`" not in text]
    assert not unnamed, f"docs/ODD.md does not describe sim modules: {unnamed}"


def write_table() -> None:
    """Replace the ODD's parameter table by the one the code defines."""
    text = ODD.read_text()
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    body = "\n".join([HEADER, *table_rows()])
    ODD.write_text(f"{before}{BEGIN}\n{body}\n{END}{after}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_table()
        print(f"wrote the parameter table of {ODD}")
    else:
        print("usage: python tests/test_odd.py --write")
