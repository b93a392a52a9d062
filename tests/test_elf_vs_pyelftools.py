"""Differential test: our program-header-only ELF reader against pyelftools' full parse.

pyelftools reads the section headers and whole file; we read only what the program
headers point at. Both must agree on every ELF in the sample wheels and the real
Linux wheels: needed libraries, rpath/runpath, soname, and every (library, version)
requirement with the symbols that carry it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import SymbolTableSection

from wheelaudit.binary.elf import parse_elf

from .conftest import SAMPLES, real_linux_wheels


def _reference(data: bytes) -> dict[str, object]:
    elf = ELFFile(io.BytesIO(data))
    needed, rpath, runpath, soname = [], [], [], None
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(tag.needed)
                elif tag.entry.d_tag == "DT_RPATH":
                    rpath.extend(tag.rpath.split(":"))
                elif tag.entry.d_tag == "DT_RUNPATH":
                    runpath.extend(tag.runpath.split(":"))
                elif tag.entry.d_tag == "DT_SONAME":
                    soname = tag.soname
    index: dict[int, tuple[str, str]] = {}
    verneed = next((s for s in elf.iter_sections() if isinstance(s, GNUVerNeedSection)), None)
    if verneed is not None:
        for vn, auxes in verneed.iter_versions():
            for aux in auxes:
                index[aux.entry.vna_other] = (vn.name, aux.name)
    versym = next((s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection)), None)
    dynsym = elf.get_section_by_name(".dynsym")
    symbols: dict[tuple[str, str], set[str]] = {(lib, ver): set() for lib, ver in index.values()}
    if isinstance(dynsym, SymbolTableSection) and versym is not None:
        for i, sym in enumerate(dynsym.iter_symbols()):
            if i == 0 or sym.entry.st_shndx != "SHN_UNDEF" or sym.entry.st_info.bind == "STB_LOCAL" or not sym.name:
                continue
            ndx = versym.get_symbol(i).entry.ndx
            ndx = ndx if isinstance(ndx, int) else -1
            if ndx & 0x7FFF in index:
                symbols[index[ndx & 0x7FFF]].add(sym.name)
    return {"needed": needed, "rpath": rpath, "runpath": runpath, "soname": soname, "versions": symbols}


def _ours(data: bytes, name: str) -> dict[str, object]:
    b = parse_elf(lambda off, size: data[off : off + size], name, len(data))
    return {
        "needed": list(b.needed),
        "rpath": list(b.rpath),
        "runpath": list(b.runpath),
        "soname": b.own_name,
        "versions": {(n.library, n.version): set(n.symbols) for n in b.version_needs},
    }


def _elves(wheel: Path, limit: int) -> list[tuple[str, bytes]]:
    out = []
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if 16 <= info.file_size <= limit:
                with z.open(info) as f:
                    if f.read(4) != b"\x7fELF":
                        continue
                out.append((info.filename, z.read(info)))
    return out


@pytest.mark.parametrize("wheel", sorted(SAMPLES.glob("*.whl")), ids=lambda p: p.name.split("-")[0])
def test_sample_elves_match_pyelftools(wheel: Path) -> None:
    elves = _elves(wheel, 1 << 30)
    assert elves
    for name, data in elves:
        assert _ours(data, name) == _reference(data), name


@pytest.mark.real
@pytest.mark.parametrize("entry", real_linux_wheels(), ids=lambda w: w["filename"][:60])
def test_real_elves_match_pyelftools(entry: dict[str, object], real_wheels: dict[str, Path]) -> None:
    # pyelftools needs the whole file in memory; skip the giant libraries (covered by the samples' logic).
    elves = _elves(real_wheels[str(entry["filename"])], 64 << 20)
    for name, data in elves[:12]:
        assert _ours(data, name) == _reference(data), name
