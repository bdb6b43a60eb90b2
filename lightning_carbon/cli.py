"""The ``lightning-carbon`` command.

Example::

    $ lightning-carbon sensors        # what would be metered here, and why
    $ lightning-carbon demo           # a short training with CarbonCallback
    $ lightning-carbon --version

Each subcommand lives in the module that does its work; that module's ``register_cli``
adds it here, so this file only wires them together and keeps the exit status one rule:
0 done, 1 the command ran and failed (an input unreadable, a training or a network request
failed), 2 a usage error (a bad option or value). With ``--json`` an error is printed as
JSON on standard output (``{"schema": "lightning-carbon/error/1", "error": ...}``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from lightning_carbon import __version__

_SUBCOMMAND_MODULES = (
    "lightning_carbon.cli",
    "lightning_carbon.demo.command",
    "lightning_carbon.integrations.nnunet_cli",
    "lightning_carbon.report",
    "lightning_carbon.sweep",
    "lightning_carbon.when",
)


def _sensors(args: argparse.Namespace) -> int:
    from lightning_carbon.sensors.discovery import discover

    found = discover(cpu_tdp_w=args.cpu_tdp_w, powercap_root=args.powercap_root)
    try:
        if args.json:
            print(json.dumps([choice.__dict__ for choice in found.choices], indent=2))
        else:
            print("\n".join(choice.line for choice in found.choices))
            if found.scope is not None:
                print(
                    "attribution: cpu and dram are the machine's; a run is charged its share "
                    f"of the busy CPU time of {found.scope.detail} (attribution='process', "
                    "the default; 'machine' reports the whole machine)"
                )
    finally:
        for sensor in found.sensors:
            sensor.close()
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sensors``."""
    parser = subparsers.add_parser(
        "sensors",
        help="print what would be metered on this machine and why",
        description="List the energy sources this machine offers (NVML, RAPL, estimates), "
        "the one chosen for each component, and why.",
    )
    parser.add_argument("--cpu-tdp-w", type=float, default=None, help="override the CPU TDP (W)")
    parser.add_argument("--powercap-root", default=None, help=argparse.SUPPRESS)  # tests only
    parser.add_argument("--json", action="store_true", help="print the choices as JSON")
    parser.set_defaults(func=_sensors)


EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
ERROR_SCHEMA = "lightning-carbon/error/1"


class _UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting on a bad command line, so :func:`main` words the error."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand whose module is installed."""
    parser = _Parser(
        prog="lightning-carbon",
        description="Energy and carbon of deep-learning training, from PyTorch Lightning.",
    )
    parser.add_argument("--version", action="version", version=f"lightning-carbon {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register_cli(subparsers)
    for action in subparsers._choices_actions:  # a subcommand's --help starts with its help
        command = subparsers.choices[action.dest]
        command.description = command.description or f"{action.help[:1].upper()}{action.help[1:]}."
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 done, 1 failed, 2 usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        if not as_json:
            error.parser.print_usage(sys.stderr)
        return _error(error.parser.prog, str(error), EXIT_USAGE, as_json)
    except SystemExit as done:  # --help, --version
        return int(done.code or 0)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = f"lightning-carbon {args.command}"
    try:
        return int(args.func(args) or 0)
    except ValueError as error:
        return _error(prog, str(error), EXIT_USAGE, as_json)
    except (OSError, RuntimeError, ImportError) as error:
        return _error(prog, str(error), EXIT_FAILURE, as_json)


def _error(prog: str, message: str, status: int, as_json: bool) -> int:
    if as_json:
        document = {"schema": ERROR_SCHEMA, "command": prog, "error": message, "exit": status}
        print(json.dumps(document, indent=2))
    else:
        print(f"{prog}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
