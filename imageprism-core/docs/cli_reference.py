"""mkdocs hook: the command-line reference, generated from ``imageprism``'s own argparse parser.

``reference/cli.md`` holds the marker ``<!-- cli-reference -->``; at build time it is replaced
by one section per command and subcommand (usage, description, arguments), walked from the
parser ``imageprism`` itself runs (``imageprism.cli._main._parser``), so the page cannot drift
from ``imageprism COMMAND --help``. ``tests/test_docs.py`` imports ``markdown`` and ``commands``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- cli-reference -->"


def _parser() -> argparse.ArgumentParser:
    from imageprism.cli._main import _parser as build

    return build()


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for name, child in _subcommands(parser):
        yield from _walk(child, (*path, name))


def commands() -> list[str]:
    """Every command and subcommand, as typed after ``imageprism`` (e.g. ``"index build"``)."""
    return [" ".join(path) for path, _ in _walk(_parser(), ()) if path]


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name or choice.metavar == name:
                    return choice.help or ""
    return ""


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            names = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar
                if metavar is None and action.choices is not None:
                    metavar = "{" + ",".join(map(str, action.choices)) + "}"
                elif metavar is None:
                    metavar = action.dest.upper()
                if isinstance(metavar, tuple):
                    metavar = " ".join(metavar)
                names += f" `{metavar}`"
        else:
            names = f"`{action.metavar or action.dest}`"
        text = (action.help or "").strip()
        if "%(" in text:
            text = text % {**vars(action), "prog": parser.prog}
        if action.choices is not None and not isinstance(action.choices, dict):
            if action.option_strings and action.nargs != 0:
                pass  # the choices are in the metavar
            else:
                text += f" Choices: {', '.join(f'`{c}`' for c in action.choices)}."
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS, [], ())
            and action.nargs != 0
            and "default" not in text
        ):
            text += f" (default: `{default}`)"
        rows.append(f"| {names} | {_escape(text.strip())} |")
    if not rows:
        return []
    return ["| argument | meaning |", "| --- | --- |", *rows]


def markdown() -> str:
    """The reference as Markdown: one section per command, usage first."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # the same usage lines on every terminal
    try:
        root = _parser()
        parents: dict[tuple[str, ...], argparse.ArgumentParser] = {}
        out: list[str] = []
        for path, parser in _walk(root, ()):
            parents[path] = parser
            level = "#" * min(len(path) + 1, 6)
            title = "imageprism " + " ".join(path) if path else "imageprism"
            out.append(f"{level} `{title}`" + (" {#" + "-".join(path) + "}" if path else ""))
            out.append("")
            summary = _help_of(parents[path[:-1]], path[-1]) if path else ""
            if summary:
                out += [summary, ""]
            out += ["```text", parser.format_usage().strip(), "```", ""]
            if parser.description and parser.description != summary:
                out += [parser.description, ""]
            table = _arguments(parser)
            if table:
                out += [*table, ""]
            if parser.epilog:
                out += [parser.epilog, ""]
        return "\n".join(out)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(text: str, page: Any, **kwargs: Any) -> str:
    """mkdocs hook: put the generated reference where the marker is."""
    if MARKER in text:
        return text.replace(MARKER, markdown())
    return text
