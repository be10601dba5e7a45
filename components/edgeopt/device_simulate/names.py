"""Name matching for the catalogs: one spelling rule and close-match suggestions.

Names match case-insensitively with `_`, `-` and space equivalent, so `NUMAKER_M467HJ`,
`numaker-m467hj` and `nRF5340 DK` / `NRF5340-DK` are the same board.
"""

import difflib
import re


def normalise(name: str) -> str:
    """The comparable form of a catalog name: lower case, runs of `_`, `-` or space as one `-`."""
    return re.sub(r"[\s_\-]+", "-", name.strip().lower())


def suggestion(name: str, known: list[str]) -> str:
    """`did you mean X?` for the closest of `known`, or "" when none is close."""
    table = {normalise(k): k for k in known}
    close = difflib.get_close_matches(normalise(name), list(table), n=2, cutoff=0.6)
    return f"did you mean {' or '.join(table[c] for c in close)}? " if close else ""
