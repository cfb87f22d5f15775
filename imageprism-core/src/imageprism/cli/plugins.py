"""``imageprism plugins``: list the discovered plugins (distribution, version, licence,
status, the dimensions and profiles each provides), everything they registered with its
summary and licence (dimensions, profiles, presets, and what packs' own hooks take, e.g.
face detectors and embedders), the names two plugins claim (in red on a terminal), the
plugins that failed, were disabled or are not allowed by ``IMAGEPRISM_PLUGINS``; or all
of it as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from imageprism import environment
from imageprism.cli._common import EXIT_OK, add_json_option, print_json, print_table
from imageprism.io.names import display_text
from imageprism.plugin.registry import PluginInfo, Registration, Registry, get_registry

_RED = "\033[31m"
_RESET = "\033[0m"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plugins`` command to the subcommands ``sub``."""
    p = sub.add_parser(
        "plugins",
        help="list discovered plugins, their distributions, versions, and what they register "
        "(with summaries and licences)",
    )
    add_json_option(p)
    p.set_defaults(run=run)


def use_colour(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal and colour is not switched off (``NO_COLOR``,
    ``TERM=dumb``)."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return False
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _red(text: str, colour: bool) -> str:
    return f"{_RED}{text}{_RESET}" if colour else text


def _licence(registration: Registration, plugins: dict[str, PluginInfo]) -> str:
    """The spec's licence note, else its plugin's distribution's licence (marked so)."""
    if registration.licence:
        return registration.licence
    plugin = plugins.get(registration.plugin)
    if plugin is not None and plugin.licence:
        return f"{plugin.licence} (distribution)"
    return "-"


def _as_json(registry: Registry) -> dict[str, Any]:
    by_plugin = {p.name: p for p in registry.plugins}
    registrations = registry.registrations()
    return {
        "plugins": [p.to_dict() for p in registry.plugins],
        "dimensions": {
            r.name: {
                "summary": r.summary,
                "licence": r.licence,
                "plugin": r.plugin,
                "distribution": r.distribution,
            }
            for r in registrations
            if r.kind == "dimension"
        },
        "profiles": {name: p.weights for name, p in registry.profiles.items()},
        "registrations": [
            {**r.to_dict(), "shown_licence": _licence(r, by_plugin)} for r in registrations
        ],
        "registered": {
            hook.removeprefix("imageprism_register_"): sorted(found)
            for hook, found in sorted(registry.components.items())
        },
        "clashes": [clash.to_dict() for clash in registry.clashes],
        "allow_list": {
            "variable": environment.PLUGINS,
            "set": environment.PLUGINS in os.environ,
            "unknown": list(registry.unknown_allowed),
        },
    }


def run(args: argparse.Namespace) -> int:
    """Print the plugins and what they provide; returns the exit code."""
    registry = get_registry()
    if args.json:
        print_json(_as_json(registry))
        return EXIT_OK
    colour = use_colour(sys.stdout)
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "LICENCE", "PROVIDES")]
    for p in registry.plugins:
        provides = ", ".join(
            [*(f"dimension:{d}" for d in p.dimensions), *(f"profile:{n}" for n in p.profiles)]
        )
        rows.append(
            (
                p.name,
                p.distribution or "?",
                p.version or "?",
                p.status,
                p.licence or "?",
                provides or "-",
            )
        )
    print_table(rows)
    by_plugin = {p.name: p for p in registry.plugins}
    registrations = registry.registrations()
    if registrations:
        print()
        table = [("KIND", "NAME", "PLUGIN", "SUMMARY", "LICENCE")]
        table += [
            (r.kind, r.name, r.plugin, r.summary or "-", _licence(r, by_plugin))
            for r in registrations
        ]
        print_table(table)
    if registry.clashes:
        print()
        for clash in registry.clashes:
            print(_red(display_text(f"name clash: {clash.describe()}"), colour))
    for p in registry.failures:
        if not p.clashes:
            print("\n" + display_text(f"{p.name} ({p.distribution}) failed: {p.error}"))
    not_allowed = [p.name for p in registry.plugins if p.not_allowed]
    if not_allowed:
        print(
            "\n"
            + display_text(
                f"not allowed by {environment.PLUGINS}: {', '.join(not_allowed)} "
                "(core's own plugins always load)"
            )
        )
    if registry.unknown_allowed:
        print(
            "\n"
            + display_text(
                f"{environment.PLUGINS} names plugins that are not installed: "
                f"{', '.join(registry.unknown_allowed)}"
            )
        )
    return EXIT_OK
