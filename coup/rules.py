"""Field rules shared by several endpoints (COUP.md §7.2 name and bio rules)."""

from __future__ import annotations

import re

from coup.validation import FieldInvalid, Text

# Hangul (syllables and jamo), Latin letters, digits, space, '-', '_' and '.'.
_NAME_CHARACTERS = re.compile(r"[\uAC00-\uD7A3\u1100-\u11FF\u3130-\u318FA-Za-z0-9 ._-]+")


def _no_double_spaces(name: str) -> None:
    if "  " in name:
        raise FieldInvalid("must not contain two spaces in a row")


USER_NAME = Text(
    min_len=2, max_len=50, pattern=_NAME_CHARACTERS,
    pattern_reason="may use Hangul, Latin letters, digits, spaces, '-', '_' and '.' only",
    extra=_no_double_spaces,
)
BIO = Text(required=False, nullable=True, max_len=200, multiline=True)
