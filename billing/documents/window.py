"""The recipient's address as it shows through a window envelope, and whether it fits.

Documents place it in the address field of DIN 5008 form B, which the usual European DL
and C5/6 window envelopes (DIN 680, ISO 269: a 90 × 45 mm window, 20 mm from the left)
are made for: 20 mm from the left edge of the sheet and 45 mm from the top, 85 × 45 mm.
Text keeps 5 mm inside the field on every side, so an envelope a little out of true still
shows all of it: a small return-address line at the top, then up to ``MAX_LINES`` lines of
the addressee, each at most ``LINE_WIDTH_MM`` wide. Nothing is ever clipped: an address
that does not fit is refused when the document is issued, before it takes a number.

Widths are measured with the font the PDF sets the address in (DejaVu Sans, 9 pt; the
first line bold), from its advance widths.
"""

from __future__ import annotations

import functools
import subprocess

# The field, on the sheet, in millimetres (DIN 5008 form B), and the clearance kept inside it.
FIELD_LEFT, FIELD_TOP, FIELD_WIDTH, FIELD_HEIGHT = 20, 45, 85, 45
CLEARANCE = 5
LINE_WIDTH_MM = FIELD_WIDTH - 2 * CLEARANCE  # 75 mm
MAX_LINES = 8  # the field's 9 lines, the first taken by the return address
FONT_SIZE_PT = 9
_MM_PER_PT = 25.4 / 72


@functools.cache
def _advances(bold: bool) -> tuple[dict[int, int], int, int]:
    """(advance width per character, the .notdef's, units per em) of DejaVu Sans."""
    from fontTools.ttLib import TTFont

    pattern = "DejaVu Sans:bold" if bold else "DejaVu Sans"
    path = subprocess.run(  # noqa: S603 - a fixed command, no shell
        ["fc-match", "-f", "%{file}", pattern],  # noqa: S607 - fontconfig's own tool, on PATH
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    font = TTFont(path, lazy=True)
    metrics = font["hmtx"].metrics
    cmap = font.getBestCmap()
    advances = {code: metrics[name][0] for code, name in cmap.items()}
    return advances, metrics[".notdef"][0], font["head"].unitsPerEm


def line_width_mm(text: str, *, bold: bool = False) -> float:
    """How wide ``text`` is set at the address's size (characters outside DejaVu Sans, set
    in a fallback font, are counted at an em, wider than any of its glyphs)."""
    advances, _, units = _advances(bold)
    width = sum(advances.get(ord(char), units) for char in text)
    return width / units * FONT_SIZE_PT * _MM_PER_PT


def address_problem(lines: list[str]) -> str:
    """Why ``lines`` (the addressee: name first) would not fit the window, or ""."""
    if len(lines) > MAX_LINES:
        return (
            f"the address has {len(lines)} lines and a window envelope shows {MAX_LINES}: "
            "shorten it (put the postcode on the town's line, say) on the customer's details"
        )
    for index, line in enumerate(lines):
        if line_width_mm(line, bold=index == 0) > LINE_WIDTH_MM:
            return (
                f"“{line}” is wider than the envelope window's {LINE_WIDTH_MM} mm: "
                "split it over two lines of the customer's address"
            )
    return ""
