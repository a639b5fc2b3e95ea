"""A reduced Chinese font for the printed work order, built once at set-up.

WeasyPrint subsets every font a PDF uses; with the full Noto Sans CJK SC
(65,000 glyphs in one CFF) that costs about 0.05 s per weight and per PDF.
:func:`ensure_reduced_fonts` (``scripts/setup``) cuts the installed regular and
bold faces down to what Chinese forms print: ASCII, Latin-1, general and CJK
punctuation, full-width forms and every GB2312 character (the 6,763 hanzi of
everyday names and text), about 7,800 glyphs, and keeps them in
``NRSC_PDF_FONT_DIR`` (default ``~/.cache/nrsc-fonts``). ``print.css`` lists the
reduced family first and the full Noto CJK after it, so a character outside
GB2312 (a rare character in a name) still prints, from the full font, glyph
by glyph. Without the reduced fonts (set-up not run) the PDF is made with the
full font, as before.

The reduced faces are renamed (family ``NRSC Sans GB``): the fonts are under
the SIL Open Font License, whose modified versions must not carry the
original's reserved name, and fontconfig must not take them for the full font.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path

from webapp.config import pdf_font_dir

FAMILY = "NRSC Sans GB"  # the reduced faces' family, as print.css names it
SOURCE_FAMILY = "Noto Sans CJK SC"
WEIGHTS = {"regular": (400, 80), "bold": (700, 200)}  # CSS weight, fontconfig weight
FORMAT = 1  # bump when what goes into the reduced fonts changes
_DEBIAN = {"regular": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
           "bold": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2)}


def font_path(folder: Path, weight: str) -> Path:
    return Path(folder) / f"nrsc-sans-gb-{weight}.otf"


def reduced_fonts(folder: Path) -> dict[str, Path] | None:
    """The reduced fonts in ``folder`` ({weight: path}), or None unless all are there."""
    paths = {weight: font_path(folder, weight) for weight in WEIGHTS}
    return paths if all(p.is_file() for p in paths.values()) else None


def codepoints() -> list[int]:
    """ASCII, Latin-1, general and CJK punctuation, full-width forms and all of GB2312."""
    points = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100)) | set(range(0x2000, 0x2070))
    points |= set(range(0x3000, 0x3040)) | set(range(0xFF00, 0xFFF0))
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                points.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return sorted(points)


def source_font(weight: str) -> tuple[Path, int] | None:
    """The installed Noto Sans CJK SC face of that weight (file, index in the collection)."""
    _css, fc_weight = WEIGHTS[weight]
    try:
        out = subprocess.run(["fc-match", "--format", "%{file}|%{index}|%{family}|%{weight}",
                              f"{SOURCE_FAMILY}:weight={fc_weight}"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        file, index, families, found = out.split("|")
        if SOURCE_FAMILY in families.split(",") and int(float(found)) == fc_weight and Path(file).is_file():
            return Path(file), int(index)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    file, index = _DEBIAN[weight]
    return (Path(file), index) if Path(file).is_file() else None


def _stamp(sources: dict[str, tuple[Path, int]], points: list[int]) -> str:
    parts = [FORMAT, {w: [str(p), i, p.stat().st_size, p.stat().st_mtime_ns] for w, (p, i) in sources.items()},
             hashlib.sha256(repr(points).encode()).hexdigest()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _build(source: Path, index: int, weight: str, target: Path, points: list[int]) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.recalc_bounds = True
    font = TTFont(str(source), fontNumber=index, lazy=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=points)
    subsetter.subset(font)
    style = "Bold" if weight == "bold" else "Regular"
    postscript = f"{FAMILY.replace(' ', '')}-{style}"
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 21, 22):
            names.removeNames(nameID=record.nameID)
    names.setName(FAMILY, 1, 3, 1, 0x409)
    names.setName(style, 2, 3, 1, 0x409)
    names.setName(f"{postscript};reduced from {SOURCE_FAMILY}", 3, 3, 1, 0x409)
    names.setName(f"{FAMILY} {style}", 4, 3, 1, 0x409)
    names.setName(postscript, 6, 3, 1, 0x409)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
        top = cff.topDictIndex[0]
        top.FullName, top.FamilyName = f"{FAMILY} {style}", FAMILY
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        font.save(str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_reduced_fonts(folder: Path | None = None, points: list[int] | None = None) -> dict[str, Path] | None:
    """Build the reduced fonts into ``folder`` (default NRSC_PDF_FONT_DIR) unless
    they are there and were made from the fonts installed now, with the same
    characters (idempotent; about a minute of CPU the first time). ``points``:
    other characters than :func:`codepoints` (tests). None when Noto Sans CJK SC
    is not installed."""
    folder = Path(folder or pdf_font_dir())
    sources = {weight: source_font(weight) for weight in WEIGHTS}
    if any(s is None for s in sources.values()):
        return None
    stamp_file = folder / "STAMP"
    points = sorted(points) if points is not None else codepoints()
    stamp = _stamp(sources, points)  # type: ignore[arg-type]
    found = reduced_fonts(folder)
    if found and stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    for weight, (source, index) in sources.items():  # type: ignore[misc]
        _build(source, index, weight, font_path(folder, weight), points)
    stamp_file.write_text(stamp + "\n")
    return reduced_fonts(folder)


if __name__ == "__main__":  # scripts/setup
    import sys
    built = ensure_reduced_fonts(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"reduced PDF fonts: {', '.join(str(p) for p in built.values())}" if built
          else f"reduced PDF fonts: {SOURCE_FAMILY} is not installed; PDFs use the system font")
