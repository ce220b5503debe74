"""The ``sim`` command: run scenarios, list presets and parameters, sweep, serve the app.

Bad input ends with exit status 2 and one line on stderr naming the problem; nothing is written.
A usage error (missing argument, unknown flag) takes two lines: the error and where help is.
No traceback ever: an unexpected failure prints one line and exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from sim import cache
from sim.params import GROUPS, SPECS, ParameterError, shown

# Modules that add their own sub-commands through ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "sim.unit_analytics", "sim.app.cli", "sim.sweep", "sim.sweep_analysis", "sim.validate",
    "sim.discover", "sim.optimise",
)
# Commands that run on local worker processes unless given a Dask scheduler (--scheduler).
LOCAL_WORKER_COMMANDS: tuple[str, ...] = ("sweep", "optimise")
# Settings of a run (not parameters) that ``--set`` also accepts, as ``--steps`` etc. do.
RUN_SETTINGS: tuple[str, ...] = ("steps", "seed", "reps")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors take two lines, not the whole usage block.

    ``add_subparsers`` makes every sub-command's parser of the same class, including those
    that other modules register.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` and a pointer to ``--help``; exit with status 2."""
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n(see {self.prog} --help)\n")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _parse_setting(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise ParameterError(f"--set {shown(text)}: expected KEY=VALUE, e.g. --set training=0.1")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError, RecursionError):  # not YAML: keep the text, checked later
        value = raw
    if isinstance(value, str):  # numbers YAML 1.1 reads as text: 1e5, nan, inf, -Infinity
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and (math.isfinite(number) or "n" in value.lower()):
            value = number  # but 1e400 stays text: it is not infinity, it is too big
    return key.strip(), value


def _run_settings(args: argparse.Namespace, overrides: dict[str, Any]) -> dict[str, Any]:
    """``--steps/--seed/--reps``, merged with the same settings given through ``--set``."""
    settings = {}
    for key in RUN_SETTINGS:
        flag = getattr(args, key)
        if key in overrides:
            value = overrides.pop(key)
            if flag is not None and value != flag:
                raise ParameterError(
                    f"{key}: given twice, --{key} {flag} and --set {key}={shown(value)}; "
                    "give it once"
                )
            flag = value
        settings[key] = flag
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario's replications, print the summary and optionally write results."""
    from sim.runner import prepare_output_dir, run_scenario, summary, write_results
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    overrides: dict[str, Any] = {}
    for text in args.set:
        key, value = _parse_setting(text)
        overrides.pop(key, None)  # the last of repeated --set KEY=... wins, in order
        overrides[key] = value
    settings = _run_settings(args, overrides)
    scenario = scenario.with_changes(**settings, **overrides)
    if args.out is not None:
        prepare_output_dir(args.out)  # before the run: a bad --out costs no waiting
    result = run_scenario(scenario)
    if not args.quiet:
        print(f"{scenario.name}: {scenario.reps} replication(s) x {scenario.steps} weeks, "
              f"seed {scenario.seed}, {scenario.mode}")
        if result.fit is not None:
            print(result.fit.report())
        print(summary(result.timeseries).to_string(float_format=lambda v: f"{v:,.3f}"))
    if args.out is not None:
        directory = write_results(result, args.out)
        if not args.quiet:
            print(f"wrote {directory}/timeseries.parquet, units.parquet, scenario.yaml")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    """List the presets with their one-line story."""
    from sim.scenario import load_scenario, preset_names

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
    parser = Parser(prog="sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and summarise it")
    run.add_argument("scenario", help="preset name (see `sim scenarios`) or path to a YAML file")
    run.add_argument("--steps", type=int, help="weeks to simulate (default: the scenario's)")
    run.add_argument("--seed", type=int, help="seed of replication 0 (default: the scenario's)")
    run.add_argument("--reps", type=int, help="replications (seeds seed, seed+1, ...)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter, or steps/seed/reps (repeatable); see `sim params`")
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
    for command in sub.choices.values():
        command.set_defaults(command_parser=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sim`` console script; returns the exit status.

    0 success; 2 bad input (one line on stderr naming the key and what is allowed; usage errors
    take a second line pointing to ``--help``); 1 an unexpected failure (one line, no traceback);
    130 interrupted.
    """
    try:
        try:
            parser = build_parser()
            args, extra = parser.parse_known_args(argv)
            if extra:  # reported by the sub-command's parser, so the hint names its --help
                args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
        except SystemExit as stop:  # --help, or a usage error already printed
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        cache.limit_mb()  # a bad SIM_CACHE_MB is named before any work is done
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return status
    except BrokenPipeError:  # e.g. `sim params | head -1`: the reader has what it wanted
        _silence_stdout()
        return 1
    except ParameterError as err:
        print(f"sim: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sim: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the file system refused: name the file, no traceback
        where = "" if err.filename is None else f"{_one_line(err.filename)}: "
        print(f"sim: error: {where}{_one_line(err.strerror or err)}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the last resort: one line, never a traceback
        text = _one_line(err)
        text = text if len(text) <= 300 else f"{text[:297]}..."
        print(f"sim: internal error: {type(err).__name__}: {text} (please report)",
              file=sys.stderr)
        return 1


def console() -> int:
    """The ``sim`` console script: :func:`main`, with a sweep's worker processes started first.

    For a command that runs on local workers, their forkserver starts before the model's modules
    are imported here, so both load at once, on two cores; it is stopped when the command ends.
    """
    argv = sys.argv[1:]
    ahead = (bool(argv) and argv[0] in LOCAL_WORKER_COMMANDS
             and not any(a in ("-h", "--help") or a.startswith("--scheduler") for a in argv))
    if ahead:
        from sim import sweep_pool  # noqa: PLC0415 (standard library only: imports quickly)

        try:
            sweep_pool.start_forkserver()
        except Exception:  # noqa: BLE001 - a head start only: the pool starts it, or says why
            ahead = False
    try:
        return main(argv)
    finally:
        if ahead:
            sweep_pool.stop_forkserver()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (tests)
        pass


if __name__ == "__main__":
    sys.exit(console())
