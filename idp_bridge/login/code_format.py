"""The shape of a send-a-code sign-in code (SPEC §13), without Flask or a database: the login package and the
mode-2 forwarding helper (:mod:`idp_bridge.forwarding`) must agree on which chat texts are code attempts.

Crockford's base32 alphabet (32 symbols, 8 symbols = 40 bits): no ``I``, ``L``, ``O`` or ``U``; a typed
``O``/``I``/``L`` is read as ``0``/``1``/``1``; case, spaces and dashes are ignored.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_IGNORED = str.maketrans("", "", " -_\t\u3000\uff0d")  # spaces, dashes (ASCII and full-width)


def normalise(text: str) -> str | None:
    """What a person sent, as a code; ``None`` when the text is not code-shaped (an ordinary chat message)."""
    candidate = text.strip().upper().translate(_IGNORED).translate(_LOOKALIKES)
    if len(candidate) != LENGTH or any(ch not in ALPHABET for ch in candidate):
        return None
    return candidate
