"""docs/ODD.md must match the code: every parameter, its default and range, and every module named.

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


def test_named_constants_exist_with_their_documented_values() -> None:
    import sim.customers as customers
    import sim.encounters as encounters
    import sim.leadership as leadership
    import sim.metrics as metrics
    import sim.population as population
    import sim.workforce as workforce

    text = ODD.read_text()
    for module in (customers, encounters, leadership, metrics, population, workforce):
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, (int, float)) and f"`{name}`" in text:
                assert re.search(rf"`{name}` = {value!r}\b", text) or f"`{name}` (" in text, (
                    f"docs/ODD.md shows {name} with a value other than {value!r}")
    documented_constants = set(re.findall(r"`([A-Z][A-Z_]{3,})`", text))
    code = "\n".join(p.read_text() for p in (ROOT / "sim").glob("*.py"))
    unknown = sorted(c for c in documented_constants if not re.search(rf"\b{c}\b", code))
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
