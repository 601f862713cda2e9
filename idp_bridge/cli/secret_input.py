"""Secrets without the command line (SPEC §15): ``--NAME -`` reads standard input, ``--NAME-file PATH`` reads a
file.

A command-line argument is readable by every local user (``/proc/<pid>/cmdline``, ``ps``) and lands in shell
history; standard input and a mode-0600 file are not. One trailing newline (``\\n`` or ``\\r\\n``, what
``echo`` and editors add) is stripped; an empty value, an unreadable file, both forms at once, or two fields
that both ask for standard input are invalid input (exit 2 naming the field, SPEC §4), judged before anything
is read from or written to the database.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from idp_bridge.cli.output import CliInvalid

F = TypeVar("F", bound=Callable[..., Any])

STDIN = "-"
MAX_SECRET_CHARS = 4096  # far above any WeChat secret; bounds what a wrong file or pipe can make us read


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def file_options(*names: str) -> Callable[[F], F]:
    """Add ``--NAME-file PATH`` next to each ``--NAME`` option (which itself accepts ``-`` for stdin)."""

    def decorate(func: F) -> F:
        for name in reversed(names):
            func = click.option(f"{_flag(name)}-file", f"{name}_file", metavar="PATH",
                                help=f"Read {_flag(name)} from this file (one trailing newline is ignored).")(func)
        return func

    return decorate


def _strip_newline(value: str) -> str:
    if value.endswith("\n"):
        value = value[:-1]
        if value.endswith("\r"):
            value = value[:-1]
    return value


def _checked(name: str, value: str) -> str:
    value = _strip_newline(value)
    if not value:
        raise CliInvalid(name, "is empty")
    if len(value) > MAX_SECRET_CHARS:
        raise CliInvalid(name, f"is longer than {MAX_SECRET_CHARS} characters")
    return value


def _read_stdin(name: str) -> str:
    stream = sys.stdin  # click's test runner substitutes it, as a shell pipe does
    if stream.isatty():  # an operator typing: do not echo the secret
        return str(click.prompt(_flag(name), hide_input=True, err=True, default="", show_default=False))
    try:
        return stream.read(MAX_SECRET_CHARS + 3)
    except UnicodeDecodeError:
        raise CliInvalid(name, "standard input is not UTF-8 text") from None


def _read_file(name: str, path: str) -> str:
    field = f"{name}_file"
    if not path:
        raise CliInvalid(field, "is empty")
    if "\x00" in path:  # open() would raise ValueError, not OSError
        raise CliInvalid(field, "contains a NUL character")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SECRET_CHARS * 4 + 3)
    except OSError as exc:
        raise CliInvalid(field, f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliInvalid(field, "is not UTF-8 text") from None


def resolve(options: dict[str, Any], names: Iterable[str]) -> None:
    """Replace ``-`` and ``NAME_file`` in ``options`` (click's keyword arguments) by the secret itself.

    ``NAME_file`` keys are removed so the rest of ``options`` can go to the domain functions unchanged.
    """
    stdin_used_by: str | None = None
    for name in names:
        direct, path = options.get(name), options.pop(f"{name}_file", None)
        if direct is not None and path is not None:
            raise CliInvalid(name, f"give {_flag(name)} or {_flag(name)}-file, not both")
        if direct == STDIN:
            if stdin_used_by is not None:
                raise CliInvalid(name, f"standard input is already read for {_flag(stdin_used_by)}; "
                                       f"use {_flag(name)}-file")
            stdin_used_by = name
            options[name] = _checked(name, _read_stdin(name))
        elif path is not None:
            options[name] = _checked(name, _read_file(name, path))

