"""The ``lightning-carbon`` command.

Example::

    $ lightning-carbon sensors        # what would be metered here, and why
    $ lightning-carbon demo           # a short training with CarbonCallback
    $ lightning-carbon --version

Each subcommand lives in the module that does its work; that module's ``register_cli``
adds it here, so this file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

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
    finally:
        for sensor in found.sensors:
            sensor.close()
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sensors``."""
    parser = subparsers.add_parser(
        "sensors", help="print what would be metered on this machine and why"
    )
    parser.add_argument("--cpu-tdp-w", type=float, default=None, help="override the CPU TDP (W)")
    parser.add_argument("--powercap-root", default=None, help="powercap sysfs root (for tests)")
    parser.add_argument("--json", action="store_true", help="print the choices as JSON")
    parser.set_defaults(func=_sensors)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand whose module is installed."""
    parser = argparse.ArgumentParser(
        prog="lightning-carbon",
        description="Energy and carbon of deep-learning training, from PyTorch Lightning.",
    )
    parser.add_argument("--version", action="version", version=f"lightning-carbon {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register_cli(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"lightning-carbon {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
