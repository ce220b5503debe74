"""The ``sim`` command: run scenarios, list presets and parameters, sweep, serve the app.

Bad input ends with exit status 2 and one line on stderr naming the problem; nothing is written.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import yaml

from sim.params import GROUPS, SPECS, ParameterError
from sim.scenario import load_scenario, preset_names

# Modules that add their own sub-commands through ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = ("sim.analytics", "sim.app.cli", "sim.sweep", "sim.analysis")


def _parse_setting(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise ParameterError(f"--set {text!r}: expected KEY=VALUE, e.g. --set training=0.1")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario's replications, print the summary and optionally write results."""
    from sim.runner import run_scenario, summary, write_results

    scenario = load_scenario(args.scenario)
    overrides = dict(_parse_setting(s) for s in args.set)
    scenario = scenario.with_changes(steps=args.steps, seed=args.seed, reps=args.reps, **overrides)
    result = run_scenario(scenario)
    if not args.quiet:
        print(f"{scenario.name}: {scenario.reps} replication(s) x {scenario.steps} weeks, "
              f"seed {scenario.seed}")
        print(summary(result.timeseries).to_string(float_format=lambda v: f"{v:,.3f}"))
    if args.out:
        directory = write_results(result, args.out)
        if not args.quiet:
            print(f"wrote {directory}/timeseries.parquet, units.parquet, scenario.yaml")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the presets with their one-line story."""
    names = preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {load_scenario(name).description}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    """List every parameter with its default, range, unit and meaning."""
    for group in GROUPS:
        if args.group and group != args.group:
            continue
        print(f"[{group}]")
        for spec in SPECS.values():
            if spec.group == group:
                bounds = f"[{spec.low}..{spec.high}] {spec.unit}"
                print(f"  {spec.name:<26} {spec.default!s:>9}  {bounds}"
                      f"\n      {spec.meaning} ({spec.source})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and summarise it")
    run.add_argument("scenario", help="preset name (see `sim scenarios`) or path to a YAML file")
    run.add_argument("--steps", type=int, help="weeks to simulate (default: the scenario's)")
    run.add_argument("--seed", type=int, help="seed of replication 0 (default: the scenario's)")
    run.add_argument("--reps", type=int, help="replications (seeds seed, seed+1, ...)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter (repeatable); see `sim params`")
    run.add_argument("--out", help="directory for timeseries.parquet, units.parquet, scenario.yaml")
    run.add_argument("--quiet", action="store_true", help="print nothing on success")
    run.set_defaults(func=cmd_run)

    scen = sub.add_parser("scenarios", help="list preset scenarios")
    scen.set_defaults(func=cmd_scenarios)

    params = sub.add_parser("params", help="list parameters with default, range, unit, meaning")
    params.add_argument("--group", choices=GROUPS, help="only this group")
    params.set_defaults(func=cmd_params)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as err:
        print(f"sim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
