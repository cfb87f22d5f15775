"""``imageprism plugins``: list the discovered plugins (distribution, version, status, the
dimensions and profiles each provides), what they registered through hooks that packs added
(e.g. face detectors), and the plugins that failed to load; or all of it as JSON.
"""

from __future__ import annotations

import argparse
import sys

from imageprism.cli._common import EXIT_OK, add_json_option, print_json, print_table
from imageprism.io.names import display_text
from imageprism.plugin.registry import get_registry

_CORE_HOOKS = frozenset(
    {
        "imageprism_add_hookspecs",
        "imageprism_register_dimensions",
        "imageprism_register_profiles",
        "imageprism_register_presets",
    }
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plugins`` command to the subcommands ``sub``."""
    p = sub.add_parser("plugins", help="list discovered plugins, their distributions and versions")
    add_json_option(p)
    p.set_defaults(run=run)


def _pack_registrations() -> dict[str, list[str]]:
    """What plugins registered through hooks that packs added (e.g. face detectors)."""
    registry = get_registry()
    out = {}
    for hook in sorted(vars(registry.manager.hook)):
        if hook.startswith("imageprism_register_") and hook not in _CORE_HOOKS:
            kind = hook.removeprefix("imageprism_register_")
            found, errors = registry.collect(hook, object, kind)
            out[kind] = sorted(found)
            for error in errors:
                print(f"imageprism: {display_text(str(error))}", file=sys.stderr)
    return out


def run(args: argparse.Namespace) -> int:
    """Print the plugins and what they provide; returns the exit code."""
    registry = get_registry()
    extensions = _pack_registrations()
    if args.json:
        print_json(
            {
                "plugins": [p.to_dict() for p in registry.plugins],
                "dimensions": {
                    name: {
                        "summary": spec.summary,
                        "plugin": getattr(registry.plugin_of(name), "name", None),
                    }
                    for name, spec in registry.dimensions.items()
                },
                "profiles": {name: p.weights for name, p in registry.profiles.items()},
                "registered": extensions,
            }
        )
        return EXIT_OK
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDES")]
    for p in registry.plugins:
        provides = ", ".join(
            [*(f"dimension:{d}" for d in p.dimensions), *(f"profile:{n}" for n in p.profiles)]
        )
        rows.append((p.name, p.distribution or "?", p.version or "?", p.status, provides or "-"))
    print_table(rows)
    for kind, names in extensions.items():
        print(display_text(f"{kind.replace('_', ' ')}: {', '.join(names) or 'none'}"))
    for p in registry.failures:
        print("\n" + display_text(f"{p.name} ({p.distribution}) failed: {p.error}"))
    return EXIT_OK
