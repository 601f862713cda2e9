"""Where the templates and migrations live, installed or in a source checkout.

They sit at the top level of the repository (DESIGN layout) and the wheel copies them into the
package; this module finds whichever exists so both layouts work without configuration.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"idp-bridge is installed without its {name}/ folder")


def templates_dir() -> Path:
    return _locate("templates")


def migrations_dir() -> Path:
    return _locate("migrations")
