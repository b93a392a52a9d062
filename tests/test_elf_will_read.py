"""parse_elf announces the dynamic segment's read before it samples the code (``will_read``).

The announcement lets a deflated member start its second decoder towards ``.dynamic`` at once
(see test_splitinflate); here: that it comes before any read past the program headers, and
names exactly the bytes read later. pyelftools is the independent oracle for the segment.
"""

from __future__ import annotations

from pathlib import Path

import lief
from elftools.elf.elffile import ELFFile

from wheelaudit.binary.elf import parse_elf

LIEF_SO = next(Path(lief.__file__).parent.glob("_lief*.so"))


def test_the_dynamic_segment_is_announced_before_any_read_past_the_headers() -> None:
    data = LIEF_SO.read_bytes()
    with LIEF_SO.open("rb") as fh:
        elf = ELFFile(fh)
        headers_end = elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"]
        dynamic = next(seg for seg in elf.iter_segments() if seg["p_type"] == "PT_DYNAMIC")
        span = (dynamic["p_offset"], dynamic["p_offset"] + dynamic["p_filesz"] // 16 * 16)
    events: list[tuple[str, int, int]] = []

    def read_at(offset: int, size: int) -> bytes:
        events.append(("read", offset, offset + size))
        return data[offset : offset + size]

    parse_elf(read_at, "_lief.so", len(data), will_read=lambda start, end: events.append(("will", start, end)))
    announced = [i for i, event in enumerate(events) if event[0] == "will"]
    assert len(announced) == 1 and events[announced[0]][1:] == span
    assert all(end <= headers_end for _, _, end in events[: announced[0]])
    assert ("read", *span) in events[announced[0] + 1 :]
    # the code is sampled after the announcement (x86-64: the ISA scan reads executable segments)
    assert any(start > headers_end for kind, start, _ in events[announced[0] + 1 :] if kind == "read")
