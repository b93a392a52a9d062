"""An ELF file's dynamic symbols, their versions and names, read forwards in bounded pieces.

``.dynstr`` can be most of what the audit reads (82 MB in tensorflow-cpu 2.21's
``libtensorflow_cc.so.2``) while the audit uses a small part of it: the names of the
imported symbols, of the Python exports, of the libraries and versions. So the tables
are read once, in file order (a deflated member inflates forwards, and a read behind
what it keeps starts the inflation over), ``.dynsym`` and ``.gnu.version`` in fixed
pieces, and ``.dynstr`` in chunks that answer the offsets the tables before it asked
for. Held at once: one chunk, a few bytes per symbol (its name's offset; index and
version too for imports) and the names kept. Tables after ``.dynstr`` (GNU ld puts
``.gnu.version_r`` there, and its strings at the end of ``.dynstr``) are answered from
the table's kept tail, else by a read behind.
"""

from __future__ import annotations

import array
import struct
import sys
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from .._typing import TYPE_CHECKING, Protocol
from ..errors import MalformedBinary
from ..record import field, record

if TYPE_CHECKING:
    from typing import Callable

STB_WEAK = 2
VER_FLG_WEAK = 0x2

#: Defined symbols whose names are worth decoding: module init hooks, Py*/_Py* exports, cffi hooks.
INTERESTING_EXPORTS = (b"Py", b"_Py", b"_cffi_pypyinit_")
_LONGEST_PREFIX = max(map(len, INTERESTING_EXPORTS))

#: ``.dynstr`` is read and answered in chunks of 1 MiB (offsets are bucketed by ``offset >> CHUNK_SHIFT``).
CHUNK_SHIFT = 20
CHUNK = 1 << CHUNK_SHIFT
#: Read past each chunk, so that strings crossing its end rarely need a second read.
SLACK = 64 * 1024
#: Symbol and version entries read at a time.
PIECE_SYMBOLS = 16384
#: What is kept of the end of ``.dynstr`` for tables that lie after it (GNU ld's version needs).
KEPT_TAIL = 256 * 1024


class TableReader(Protocol):
    """What the parser's reader offers: bounds-checked reads and its error."""

    def read(self, offset: int, size: int) -> bytes: ...

    def check(self, offset: int, size: int) -> None: ...

    def fail(self, why: str) -> MalformedBinary: ...


@record(frozen=True)
class Layout:
    """Where the tables lie in the file (None: absent), as the dynamic segment says."""

    e: str  # struct byte order
    bits: int
    strtab: int | None
    strsz: int
    symtab: int | None
    count: int
    syment: int
    versym: int | None
    verneed: int | None  # None also when its address could not be mapped (the caller reports that)
    verneednum: int


@record
class Symbols:
    """What the tables hold that the audit uses; names by ``.dynstr`` offset."""

    names: dict[int, str] = field(default_factory=dict)
    exports: dict[int, str] = field(default_factory=dict)  # defined symbols with an interesting prefix
    imports_index: array.array[int] = field(default_factory=lambda: array.array("I"))
    imports_name: array.array[int] = field(default_factory=lambda: array.array("I"))
    imports_weak: bytearray = field(default_factory=bytearray)
    imports_version: array.array[int] | None = None  # .gnu.version of each import, when present
    defined: array.array[int] = field(default_factory=lambda: array.array("I"))  # name offsets, in symbol order
    #: Version index -> (library name offset, version name offset, weak).
    verneed: dict[int, tuple[int, int, bool]] = field(default_factory=dict)
    #: The first import whose name lies past the string table (reported after the version needs).
    bad_import: int | None = None


class CountMismatch(Exception):
    """The hash table counts another number of symbols than ``read_symbols`` was told to expect."""


def read_symbols(
    r: TableReader,
    layout: Layout,
    dynamic_strings: list[int],
    count_check: tuple[int, Callable[[], int]] | None = None,
) -> Symbols:
    """Read the tables in file order and answer every name the audit uses.

    ``dynamic_strings``: the ``.dynstr`` offsets named by the dynamic segment, in the
    order they are reported (errors come in the order the old whole-table parse gave).
    ``count_check``: (file offset, reader) of the hash table that gives the number of
    symbols, for a caller that guessed ``layout.count`` because that table lies after
    ``.dynsym``; read in its turn, a different count raises :class:`CountMismatch`.
    """
    strsz = layout.strsz if layout.strtab is not None else 0
    tables = sorted(
        (at, size, name)
        for at, size, name in (
            (layout.strtab, layout.strsz, "strtab"),
            (layout.symtab, layout.count * layout.syment, "symtab"),
            (layout.versym, layout.count * 2 if layout.count else None, "versym"),
        )
        if at is not None and size is not None
    )
    for at, size, _ in tables:
        r.check(at, size)
    for offset in dynamic_strings:
        if offset >= strsz:
            raise r.fail(f"string offset {offset} past the string table")

    out = Symbols()
    strings = _Strings(r, layout.strtab or 0, strsz, out.names, out.exports)
    for offset in dynamic_strings:
        strings.ask(offset)
    # Sources first at equal offsets: their names are then answered by the one pass.
    steps = [(at, 1, name) for at, _, name in tables if name != "strtab"]
    if layout.verneed is not None:
        steps.append((layout.verneed, 1, "verneed"))
    if layout.strtab is not None:
        steps.append((layout.strtab, 2, "strtab"))
    if count_check is not None:
        steps.append((count_check[0], 1, "hash"))
    steps.sort()
    names = [name for _, _, name in steps]
    keep = 0
    if "strtab" in names:
        after = names[names.index("strtab") + 1 :]
        keep = strsz if "symtab" in after else min(strsz, KEPT_TAIL) if "verneed" in after else 0
    whole_versym: array.array[int] | None = None
    for _, _, name in steps:
        if name == "symtab":
            _read_symtab(r, layout.e, layout.bits, layout.symtab or 0, layout.count, layout.syment, strsz, out)
            strings.ask_all(out.imports_name)
            strings.ask_all(out.defined, prefix=True)
            if whole_versym is not None:
                out.imports_version = array.array("H", (whole_versym[i] for i in out.imports_index))
        elif name == "versym":
            assert layout.versym is not None
            if "symtab" in names and names.index("symtab") < names.index("versym"):
                out.imports_version = _versions_of(r, layout.e, layout.versym, layout.count, out.imports_index)
            else:  # before the symbols (an edited file): kept whole, two bytes a symbol
                whole_versym = u16_array(r.read(layout.versym, layout.count * 2), layout.e)
        elif name == "hash":
            assert count_check is not None
            if count_check[1]() != layout.count:
                raise CountMismatch
        elif name == "verneed":
            assert layout.verneed is not None
            out.verneed = _read_verneed(r, layout.e, layout.verneed, layout.verneednum, strsz, strings)
        else:
            strings.run(keep)
    return out


def _read_symtab(r: TableReader, e: str, bits: int, at: int, count: int, syment: int, strsz: int, out: Symbols) -> None:
    """One pass over ``.dynsym``: the imports, and the names of defined non-local symbols."""
    # Only st_name, st_info and st_shndx are unpacked: three ints an entry, not six.
    sym_fmt = e + ("IBxH16x" if bits == 64 else "I8xBxH")
    index_add, name_add, weak_add = out.imports_index.append, out.imports_name.append, out.imports_weak.append
    defined_add = out.defined.append
    # In pieces of whole entries; an entry size other than the class's (a forged file) is read as one piece,
    # as the entries were always unpacked, so that it fails or misreads the same way.
    piece = PIECE_SYMBOLS if syment == struct.calcsize(sym_fmt) else max(count, 1)
    for first in range(0, count, piece):
        n = min(piece, count - first)
        data = r.read(at + first * syment, n * syment)
        for i, (st_name, info, shndx) in enumerate(struct.iter_unpack(sym_fmt, data), first):
            bind = info >> 4
            if bind == 0 or i == 0:  # local symbols are nobody's business
                continue
            if shndx != 0:
                # Defined: only Python hooks and exports matter; the string pass tells which those are.
                defined_add(st_name)
                continue
            if st_name >= strsz:
                out.bad_import = st_name
                return
            index_add(i)
            name_add(st_name)
            weak_add(bind == STB_WEAK)


def _versions_of(r: TableReader, e: str, at: int, count: int, indices: array.array[int]) -> array.array[int]:
    """The ``.gnu.version`` entries of the given (ascending) symbol indices, read in pieces."""
    out = array.array("H")
    j, total = 0, len(indices)
    for first in range(0, count, PIECE_SYMBOLS):
        if j == total:
            break
        end = min(first + PIECE_SYMBOLS, count)
        k = bisect_left(indices, end, j)
        if k > j:
            values = u16_array(r.read(at + first * 2, (end - first) * 2), e)
            out.extend([values[i - first] for i in indices[j:k]])
            j = k
    return out


def _read_verneed(
    r: TableReader, e: str, offset: int, count: int, strsz: int, strings: _Strings
) -> dict[int, tuple[int, int, bool]]:
    """``.gnu.version_r``: version index -> (library, version name, weak), names as ``.dynstr`` offsets."""
    out: dict[int, tuple[int, int, bool]] = {}
    for _ in range(min(count, 4096)):
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack(e + "HHIII", r.read(offset, 16))
        if vn_version != 1:
            raise r.fail(f"unknown version-needed revision {vn_version}")
        if vn_file >= strsz:
            raise r.fail(f"string offset {vn_file} past the string table")
        strings.ask(vn_file)
        aux = offset + vn_aux
        for _ in range(min(vn_cnt, 4096)):
            _hash, flags, other, name, next_aux = struct.unpack(e + "IHHII", r.read(aux, 16))
            if name >= strsz:
                raise r.fail(f"string offset {name} past the string table")
            strings.ask(name)
            out[other & 0x7FFF] = (vn_file, name, bool(flags & VER_FLG_WEAK))
            if not next_aux:
                break
            aux += next_aux
        if not vn_next:
            break
        offset += vn_next
    return out


def u16_array(data: bytes, e: str) -> array.array[int]:
    """``.gnu.version`` entries as an array of indices, in the host's byte order."""
    values = array.array("H")
    values.frombytes(data[: len(data) // 2 * 2])
    if (e == "<") != (sys.byteorder == "little"):
        values.byteswap()
    return values


class _Strings:
    """``.dynstr`` answered by offset: asked before the pass, read in one forward pass of chunks.

    Offsets asked before :meth:`run` are answered by it, chunk by chunk; asked after it,
    they are answered at once from the kept tail, else by reading behind (which restarts
    a deflated member's inflation: only for layouts no linker writes).
    """

    def __init__(self, r: TableReader, at: int, size: int, names: dict[int, str], exports: dict[int, str]) -> None:
        self._r = r
        self._at = at
        self._size = size
        self._names = names
        self._exports = exports
        self._asked = array.array("I")
        self._full: list[Sequence[int]] = [self._asked]  # sources of offsets whose names are wanted
        self._prefix: list[Sequence[int]] = []  # ... wanted only with an interesting prefix
        self._done = False
        self._tail = b""
        self._tail_start = size

    def ask(self, offset: int) -> None:
        """Have the full name at ``offset`` (which lies in the table) in ``names``."""
        if not self._done:
            self._asked.append(offset)
        elif offset not in self._names:
            self._names[offset] = self._late(offset).decode("utf-8", "surrogateescape")

    def ask_all(self, offsets: Sequence[int], *, prefix: bool = False) -> None:
        """:meth:`ask` (or with ``prefix``, :meth:`ask_prefix`) each offset; kept by reference until the pass."""
        if not self._done:
            (self._prefix if prefix else self._full).append(offsets)
        elif prefix:
            for offset in offsets:
                self.ask_prefix(offset)
        else:
            for offset in offsets:
                self.ask(offset)

    def ask_prefix(self, offset: int) -> None:
        """Have the name at ``offset`` in ``exports`` if it starts with an interesting prefix (else nothing)."""
        if offset >= self._size:
            return
        if not self._done:
            self._prefix.append((offset,))
        elif offset not in self._exports and self._late(offset, _LONGEST_PREFIX).startswith(INTERESTING_EXPORTS):
            self._exports[offset] = self._late(offset).decode("utf-8", "surrogateescape")

    def _chunks(self) -> Iterator[tuple[int, list[Sequence[int]], list[Sequence[int]]]]:
        """(start, full offsets, prefix offsets) of each chunk with questions, in table order."""
        size = self._size
        if size <= CHUNK + SLACK:  # one chunk: no need to sort the offsets out
            yield 0, self._full, self._prefix
            return
        buckets = (size >> CHUNK_SHIFT) + 1
        full: list[array.array[int]] = [array.array("I") for _ in range(buckets)]
        prefix: list[array.array[int]] = [array.array("I") for _ in range(buckets)]
        for source in self._full:
            for offset in source:
                full[offset >> CHUNK_SHIFT].append(offset)
        for source in self._prefix:
            for offset in source:
                if offset < size:
                    prefix[offset >> CHUNK_SHIFT].append(offset)
        self._full, self._prefix = [], []
        for k in range(buckets):
            if full[k] or prefix[k]:
                yield k << CHUNK_SHIFT, [full[k]], [prefix[k]]
                full[k] = prefix[k] = array.array("I")  # answered: free the offsets

    def run(self, keep: int) -> None:
        """The forward pass; ``keep``: bytes of the table's end to keep for later questions."""
        exports = self._exports
        tail_start = self._size - keep
        buf = bytearray()
        start = 0  # table offset of buf[0]
        for low, full, prefix in self._chunks():
            start = _drop_before(buf, start, min(low, tail_start))
            self._extend(buf, start, low + CHUNK + SLACK)
            self._answer(buf, start, full)
            starts = buf.startswith
            for source in prefix:
                for offset in source:
                    if starts(INTERESTING_EXPORTS, offset - start):
                        exports[offset] = self._string(buf, start, offset)
        self._full, self._prefix = [], []
        if keep:
            start = _drop_before(buf, start, tail_start)
            self._extend(buf, start, self._size)
            self._tail = bytes(buf)
            self._tail_start = tail_start
        self._done = True

    def _answer(self, buf: bytearray, start: int, sources: list[Sequence[int]]) -> None:
        """The name at each offset of ``sources`` into ``names``; ``buf`` starts at table offset ``start``."""
        names = self._names
        if any(sources) and buf.isascii():  # (names nearly always are) a str slice each, not bytes then decode
            text = buf.decode("ascii")
            find = text.find
            for source in sources:
                for offset in source:
                    at = offset - start
                    end = find("\0", at)
                    names[offset] = text[at:end] if end >= 0 else self._string(buf, start, offset)
            return
        find_byte = buf.find
        for source in sources:
            for offset in source:
                at = offset - start
                end = find_byte(0, at)
                if end >= 0:
                    names[offset] = buf[at:end].decode("utf-8", "surrogateescape")
                else:  # runs past the buffer
                    names[offset] = self._string(buf, start, offset)

    def _extend(self, buf: bytearray, start: int, end: int) -> None:
        """Read on so that ``buf`` (from ``start``) reaches ``end`` or the table's end."""
        end = min(end, self._size)
        have = start + len(buf)
        if have < end:
            buf += self._r.read(self._at + have, end - have)

    def _string(self, buf: bytearray, start: int, offset: int) -> str:
        """The NUL-terminated string at ``offset`` (in ``buf``), reading on if it runs past the buffer."""
        at = offset - start
        end = buf.find(0, at)
        while end < 0 and start + len(buf) < self._size:
            searched = len(buf)
            self._extend(buf, start, start + len(buf) + CHUNK)
            end = buf.find(0, searched)
        return buf[at : end if end >= 0 else len(buf)].decode("utf-8", "surrogateescape")

    def _late(self, offset: int, most: int | None = None) -> bytes:
        """A string asked for after the pass: from the kept tail, else read (behind: inflation restarts)."""
        data: bytes | bytearray
        if offset >= self._tail_start:
            data, at = self._tail, offset - self._tail_start
        else:
            data, at = bytearray(), 0
            piece = 4096
            while offset + len(data) < self._size and data.find(0) < 0 and (most is None or len(data) < most):
                have = offset + len(data)
                data += self._r.read(self._at + have, min(piece, self._size - have))
                piece = min(piece * 4, CHUNK)
        end = data.find(0, at)
        end = len(data) if end < 0 else end
        if most is not None:
            end = min(end, at + most)
        return bytes(data[at:end])


def _drop_before(buf: bytearray, start: int, floor: int) -> int:
    """Forget the buffered bytes before table offset ``floor``; returns the new start of ``buf``."""
    if floor <= start:
        return start
    if floor >= start + len(buf):
        buf.clear()
    else:
        del buf[: floor - start]
    return floor
