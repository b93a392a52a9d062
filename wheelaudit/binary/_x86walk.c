/* The ISA scan's window walk (x86decode.count_window) in C: the same decoder, 20-40x faster.
 *
 * x86decode.py is the reference and stays the only source of the opcode facts: it hands its
 * tables to configure() at import, and this file holds only the walk's logic, statement for
 * statement the Python functions named in the comments, including which bytes each one reads
 * (a read past the end of the window is CUT here where Python raises IndexError), because that
 * decides what an instruction cut off at the end of a window counts as. tests/test_isa_native.py
 * compares the two on every sampled window of the pinned real wheels.
 *
 * Optional: the build hook (hatch_build.py) compiles it when a C compiler is there, and
 * x86decode falls back to the Python walk when it is not.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define INVALID (-1)
#define CUT (-2)
#define FAMILIES_MAX 64

/* Opcode-map codes, as x86decode defines them (bit 0: a ModRM byte follows; the rest: the immediate). */
#define M_MODRM 1
static int c_i8, c_i16, c_i24, c_iz, c_iv, c_grp3;

/* Family numbers the walk itself names (x86decode.Family). */
static int f_sse, f_sse3, f_sse4, f_popcnt, f_cx16, f_lahf, f_avx, f_f16c, f_bmi, f_lzcnt, f_movbe, f_avx512,
    f_tzcnt, f_avx2;
static int families;  /* len(Family): counts has one more slot, for 00 00 */
static int configured;

/* Tables from x86decode (signed entries stored as their low byte: 0xFF is -1). */
static unsigned char t_one[256], t_two[256], t_simd[256], t_m38[256], t_m3a[256], t_v2[256], t_prefix[256],
    t_modrm_len[256], t_fast_modrm[256], t_fast_imm[256], t_vex_map1_imm[256], t_mask_ops[256], t_avx2_m1[256],
    t_avx2_m2[256], t_avx2_m3[256];
static Py_ssize_t margin, sync_starts, sync_steps, special;

typedef struct {
    const unsigned char *c;
    Py_ssize_t n;
} Code;

#define RD(code, i, out)              \
    do {                              \
        Py_ssize_t at_ = (i);         \
        if (at_ >= (code)->n)         \
            return CUT;               \
        (out) = (code)->c[at_];       \
    } while (0)

/* _modrm_len: the ModRM byte at p with its SIB and displacement; reads the SIB whenever r/m is 4. */
static int modrm_len(const Code *code, Py_ssize_t p)
{
    int m, base;
    RD(code, p, m);
    int mod = m >> 6, rm = m & 7;
    if (mod == 3)
        return 1;
    if (rm == 4) {
        RD(code, p + 1, base);
        base &= 7;
        return 2 + ((mod == 2 || (mod == 0 && base == 5)) ? 4 : mod);
    }
    if (mod == 0)
        return rm == 5 ? 5 : 1;
    return t_modrm_len[m];
}

#define MODRM(code, p, out)              \
    do {                                 \
        int ml_ = modrm_len((code), (p)); \
        if (ml_ < 0)                     \
            return ml_;                  \
        (out) = ml_;                     \
    } while (0)

static int is_sse3(int b, int opsize, int rep)
{
    if (b == 0x7C || b == 0x7D || b == 0xD0)
        return opsize || rep == 4;
    return b == 0xF0 && rep == 4;
}

/* _two_byte: 0F xx at p (the 0F already read). */
static int two_byte(const Code *code, Py_ssize_t p, Py_ssize_t start, int opsize, int rep, int rexw)
{
    int b, op, ml, family;
    RD(code, p, b);
    if (b == 0x38) {
        RD(code, p + 1, op);
        MODRM(code, p + 2, ml);
        p += 2 + ml;
        if (op == 0xF0 || op == 0xF1)
            family = rep == 4 ? f_sse4 : f_movbe;
        else if (op >= 0xC8)
            family = 0;
        else
            family = t_m38[op];
        return (int)(p - start) | family << 8;
    }
    if (b == 0x3A) {
        RD(code, p + 1, op);
        MODRM(code, p + 2, ml);
        p += 3 + ml;
        family = (op < 0x44 || (0x60 <= op && op <= 0x63)) ? t_m3a[op] : 0;
        return (int)(p - start) | family << 8;
    }
    int entry = t_two[b] == 0xFF ? -1 : t_two[b];
    if (entry < 0)
        return INVALID;
    p += 1;
    family = 0;
    if (entry == 8)
        return (int)(p + 4 - start);
    if (entry & 1) {
        int m;
        RD(code, p, m);
        MODRM(code, p, ml);
        p += ml;
        if (entry == 3)
            p += 1;
        if (b == 0x78 && (opsize || rep == 4))
            p += 2;
        if (b == 0xC7 && rexw && ((m >> 3) & 7) == 1)
            family = f_cx16;
        else if (rep == 5 && (b == 0xB8 || b == 0xBC || b == 0xBD))
            family = b == 0xB8 ? f_popcnt : (b == 0xBC ? f_tzcnt : f_lzcnt);
        else if (t_simd[b])
            family = is_sse3(b, opsize, rep) ? f_sse3 : f_sse;
        else if (b == 0x12 || b == 0x16)
            family = rep ? f_sse3 : f_sse;
    }
    return (int)(p - start) | family << 8;
}

/* _vex: VEX (C4/C5) and EVEX (62) at p. */
/* is_avx2: x86decode._is_avx2, for an entry of the avx2 tables (1: either length, 2: VEX.L = 1, 4: register form). */
static int is_avx2(int flags, int ymm, int modrm)
{
    return (flags & 1) || ((flags & 2) && ymm) || ((flags & 4) && modrm >= 0xC0);
}

static int vex(const Code *code, Py_ssize_t p)
{
    Py_ssize_t start = p;
    int b, mmap, pp, op, ml, family, ymm, modrm;
    RD(code, p, b);
    if (b == 0xC5) {
        RD(code, p + 1, pp);
        mmap = 1;
        ymm = pp & 4;
        pp &= 3;
        p += 2;
    }
    else if (b == 0xC4) {
        RD(code, p + 1, mmap);
        RD(code, p + 2, pp);
        mmap &= 0x1F;
        ymm = pp & 4;
        pp &= 3;
        p += 3;
    }
    else {
        int p0, p1;
        RD(code, p + 1, p0);
        RD(code, p + 2, p1);
        if ((p0 & 0x08) || !(p1 & 0x04))
            return INVALID;
        mmap = p0 & 7;
        if (!(mmap == 1 || mmap == 2 || mmap == 3 || mmap == 5 || mmap == 6))
            return INVALID;
        RD(code, p + 4, op);
        MODRM(code, p + 5, ml);
        p += 5 + ml;
        if (mmap == 3 || (mmap == 1 && t_vex_map1_imm[op]))
            p += 1;
        return (int)(p - start) | f_avx512 << 8;
    }
    RD(code, p, op);
    p += 1;
    if (mmap == 1) {
        if (op == 0x77)
            return (int)(p - start) | f_avx << 8;
        MODRM(code, p, ml);
        modrm = code->c[p];
        p += ml;
        if (t_vex_map1_imm[op])
            p += 1;
        if (t_mask_ops[op])
            return (int)(p - start) | f_avx512 << 8;
        return (int)(p - start) | (is_avx2(t_avx2_m1[op], ymm, modrm) ? f_avx2 : f_avx) << 8;
    }
    if (mmap == 2) {
        MODRM(code, p, ml);
        modrm = code->c[p];
        p += ml;
        family = t_v2[op];
        if (op == 0xF7 && pp == 0)
            family = f_bmi;
        else if (family == f_avx && is_avx2(t_avx2_m2[op], ymm, modrm))
            family = f_avx2;
        return (int)(p - start) | family << 8;
    }
    if (mmap == 3) {
        MODRM(code, p, ml);
        p += 1 + ml;
        family = op == 0xF0 ? f_bmi : (op == 0x1D ? f_f16c : f_avx);
        if (0x30 <= op && op <= 0x33)
            family = f_avx512;
        else if (family == f_avx && is_avx2(t_avx2_m3[op], ymm, 0))
            family = f_avx2;
        return (int)(p - start) | family << 8;
    }
    return INVALID;
}

/* _xop: AMD XOP at p. */
static int xop(const Code *code, Py_ssize_t p)
{
    Py_ssize_t start = p;
    int mmap, ml;
    RD(code, p + 1, mmap);
    mmap &= 0x1F;
    if (mmap != 8 && mmap != 9 && mmap != 10)
        return INVALID;
    p += 4;
    MODRM(code, p, ml);
    p += ml;
    p += mmap == 8 ? 1 : (mmap == 10 ? 4 : 0);
    return (int)(p - start);
}

/* decode: one instruction at p, length | family << 8, INVALID, or CUT. */
static int decode(const Code *code, Py_ssize_t p)
{
    Py_ssize_t start = p;
    int opsize = 0, addr32 = 0, rep = 0, b, k, ml;
    RD(code, p, b);
    k = t_prefix[b];
    while (k) {
        if (k == 2)
            opsize = 1;
        else if (k == 3)
            addr32 = 1;
        else if (k >= 4)
            rep = k;
        p += 1;
        if (p - start > 14)
            return INVALID;
        RD(code, p, b);
        k = t_prefix[b];
    }
    int rexw = 0;
    if (0x40 <= b && b <= 0x4F) {
        rexw = (b & 8) != 0;
        p += 1;
        RD(code, p, b);
    }
    if (b == 0x0F)
        return two_byte(code, p + 1, start, opsize, rep, rexw);
    if (b == 0xC5 || b == 0xC4 || b == 0x62)
        return p == start ? vex(code, p) : INVALID;
    if (b == 0x8F) {
        int next;
        RD(code, p + 1, next);
        if (next & 0x38)
            return p == start ? xop(code, p) : INVALID;
    }
    if (t_one[b] == 0xFF)
        return INVALID;
    int entry = t_one[b];
    p += 1;
    int m = 0;
    if (entry & M_MODRM) {
        RD(code, p, m);
        MODRM(code, p, ml);
        p += ml;
    }
    int imm = entry & ~M_MODRM;
    if (!imm)
        return (int)(p - start) | ((b == 0x9E || b == 0x9F) ? f_lahf << 8 : 0);
    if (imm == c_i8)
        p += 1;
    else if (imm == c_iz)
        p += (opsize && b != 0xE8 && b != 0xE9) ? 2 : 4;
    else if (imm == c_grp3) {
        if (((m >> 3) & 7) < 2)
            p += b == 0xF6 ? 1 : (opsize ? 2 : 4);
    }
    else if (imm == c_iv)
        p += rexw ? 8 : (opsize ? 2 : 4);
    else if (imm == c_i16)
        p += 2;
    else if (imm == c_i24)
        p += 3;
    else /* moffs */
        p += addr32 ? 4 : 8;
    return (int)(p - start);
}

/* One step of _walk_exact at p: the instruction's end in *next and its family in *family (-1:
 * OTHER through the inlined path, which may also count 00 00 in *zero). CUT or INVALID. */
static int exact_step(const Code *code, Py_ssize_t p, Py_ssize_t *next, int *family, int *zero)
{
    Py_ssize_t start = p;
    int b, r;
    RD(code, p, b);
    int rexw = 0;
    if (0x40 <= b && b <= 0x4F) {
        rexw = b >= 0x48;
        p += 1;
        RD(code, p, b);
    }
    if (b == 0x0F) {
        r = two_byte(code, p + 1, start, 0, 0, rexw);
    }
    else {
        int imm = t_fast_imm[b];
        if (imm == 9) {
            r = decode(code, start);
        }
        else {
            p += 1;
            if (t_one[b] & M_MODRM) {
                int m, n;
                RD(code, p, m);
                n = t_fast_modrm[m];
                if (!n) {
                    int mod = m >> 6;
                    int wide = mod == 2;
                    if (!wide && mod == 0) {
                        int sib;
                        RD(code, p + 1, sib);
                        wide = (sib & 7) == 5;
                    }
                    n = 2 + (wide ? 4 : mod);
                }
                p += n;
                if (b == 0 && !rexw && m == 0)
                    *zero = 1;
            }
            p += imm != 5 ? imm : (rexw ? 8 : 4);
            *next = p;
            *family = 0;
            return 0;
        }
    }
    if (r < 0)
        return r;
    *next = start + (r & 0xFF);
    *family = r >> 8;
    return 0;
}

/* sync_point and advance: the first boundary that walks from SYNC_STARTS nearby starts share
 * (an invalid opcode steps one byte; an instruction cut off by the end gives len(code)). */
static Py_ssize_t sync_point(const Code *code)
{
    Py_ssize_t walkers[16];
    Py_ssize_t count = code->n < sync_starts ? code->n : sync_starts;
    for (Py_ssize_t i = 0; i < count; i++)
        walkers[i] = i;
    for (Py_ssize_t step = 0; step < sync_steps; step++) {
        Py_ssize_t lead = walkers[0], same = 0;
        for (Py_ssize_t i = 1; i < count; i++)
            if (walkers[i] > lead)
                lead = walkers[i];
        for (Py_ssize_t i = 0; i < count; i++)
            same += walkers[i] == lead;
        if (same == count)
            return lead;
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t p = walkers[i];
            while (p < lead) {
                int r = decode(code, p);
                if (r == CUT)
                    return code->n;
                p += r == INVALID ? 1 : (r & 0xFF);
            }
            walkers[i] = p;
        }
    }
    return walkers[0];
}

/* The counts of one window into counts[0..families] (zeroed here); 1 when it holds an invalid
   instruction (not code), else 0. Pure C on read-only tables: runs without the GIL. */
static int walk_code(const unsigned char *buf, Py_ssize_t len, long *counts)
{
    Code code = {buf, len};
    int invalid = 0;
    memset(counts, 0, sizeof(long) * (FAMILIES_MAX + 1));
    Py_ssize_t p = sync_point(&code);
    Py_ssize_t end = code.n;
    /* walk_end: instructions starting before end - MARGIN as decode() reads them; the rest as
       _walk_exact does (which also takes every window of SPECIAL bytes or more) */
    Py_ssize_t safe = end >= special ? 0 : end - margin;
    const unsigned char *c = code.c;
    while (p < safe) {
        /* the common case inline, as _walk_exact's: optional REX, a one-byte opcode the fast tables size */
        Py_ssize_t q = p;
        int b = c[q], rexw = 0;
        if ((b & 0xF0) == 0x40) {
            rexw = b >= 0x48;
            b = c[++q];
        }
        int imm = t_fast_imm[b];
        if (b != 0x0F && imm != 9) {
            q += 1;
            if (t_one[b] & M_MODRM) {
                int m = c[q], n = t_fast_modrm[m];
                if (!n) {
                    int mod = m >> 6;
                    n = 2 + ((mod == 2 || (mod == 0 && (c[q + 1] & 7) == 5)) ? 4 : mod);
                }
                q += n;
                counts[families] += b == 0 && !rexw && m == 0;
            }
            counts[0] += 1;
            p = q + (imm != 5 ? imm : (rexw ? 8 : 4));
            continue;
        }
        int r = decode(&code, p);
        if (r < 0) { /* INVALID: no CUT is possible this far from the end */
            invalid = 1;
            break;
        }
        counts[r >> 8] += 1;
        p += r & 0xFF;
    }
    while (!invalid && p < end) {
        Py_ssize_t next = p;
        int family = 0, zero = 0;
        int status = exact_step(&code, p, &next, &family, &zero);
        if (status == CUT)
            break;
        if (status == INVALID) {
            invalid = 1;
            break;
        }
        counts[family] += 1;
        counts[families] += zero;
        p = next;
    }
    return invalid;
}

/* [families + 1] counts as a new list, or None for an invalid window. */
static PyObject *counts_to_list(const long *counts, int invalid)
{
    if (invalid)
        Py_RETURN_NONE;
    PyObject *out = PyList_New(families + 1);
    if (out == NULL)
        return NULL;
    for (int i = 0; i <= families; i++) {
        PyObject *value = PyLong_FromLong(counts[i]);
        if (value == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, value);
    }
    return out;
}

static int take_window(PyObject *arg, Py_buffer *view)
{
    if (PyObject_GetBuffer(arg, view, PyBUF_SIMPLE) < 0)
        return -1;
    if (view->len == 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "an empty window");
        return -1;
    }
    return 0;
}

static int check_configured(void)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_x86walk.configure() was not called");
        return -1;
    }
    return 0;
}

/* count_window(code) -> list[int] | None. The GIL stays held: one window takes microseconds, and
   taking the GIL back could wait a switch interval (count_windows walks many without it). */
static PyObject *count_window(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    long counts[FAMILIES_MAX + 1];
    (void)self;
    if (check_configured() < 0 || take_window(arg, &view) < 0)
        return NULL;
    int invalid = walk_code((const unsigned char *)view.buf, view.len, counts);
    PyBuffer_Release(&view);
    return counts_to_list(counts, invalid);
}

/* count_windows(windows) -> list[list[int] | None]: count_window of each, all walked with the GIL
   released (the other threads of an audit run Python meanwhile). */
static PyObject *count_windows(PyObject *self, PyObject *arg)
{
    (void)self;
    if (check_configured() < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "a sequence of windows expected");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), taken = 0;
    PyObject *out = NULL;
    Py_buffer *views = PyMem_Calloc(n ? n : 1, sizeof(Py_buffer));
    long (*counts)[FAMILIES_MAX + 1] = PyMem_Calloc(n ? n : 1, sizeof(*counts));
    int *invalid = PyMem_Calloc(n ? n : 1, sizeof(int));
    if (views == NULL || counts == NULL || invalid == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; taken < n; taken++)
        if (take_window(PySequence_Fast_GET_ITEM(seq, taken), &views[taken]) < 0)
            goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        invalid[i] = walk_code((const unsigned char *)views[i].buf, views[i].len, counts[i]);
    Py_END_ALLOW_THREADS
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = counts_to_list(counts[i], invalid[i]);
        if (item == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, item);
    }
done:
    for (Py_ssize_t i = 0; i < taken; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(counts);
    PyMem_Free(invalid);
    Py_DECREF(seq);
    return out;
}

/* tally_windows(windows, level_of, v2_evidence, gpr_v3, zero_share) -> tuple: isascan._Tally's fields
   after add_window() of every window's counts, walked and tallied with the GIL released:
   (counts, windows, instructions, code_windows, data_windows, v2, v3, v4, gpr_v3, legacy_simd).
   level_of[i] is family i's psABI level; v2_evidence and gpr_v3 are 0/1 masks by family. */
static PyObject *tally_windows(PyObject *self, PyObject *args)
{
    PyObject *arg;
    Py_buffer level_of, v2_mask, gpr_mask;
    double zero_share;
    (void)self;
    if (check_configured() < 0)
        return NULL;
    if (!PyArg_ParseTuple(args, "Oy*y*y*d", &arg, &level_of, &v2_mask, &gpr_mask, &zero_share))
        return NULL;
    PyObject *out = NULL, *seq = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t n = 0, taken = 0;
    if (level_of.len < families || v2_mask.len < families || gpr_mask.len < families) {
        PyErr_SetString(PyExc_ValueError, "a level and two masks of one byte per family expected");
        goto done;
    }
    seq = PySequence_Fast(arg, "a sequence of windows expected");
    if (seq == NULL)
        goto done;
    n = PySequence_Fast_GET_SIZE(seq);
    views = PyMem_Calloc(n ? n : 1, sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; taken < n; taken++)
        if (take_window(PySequence_Fast_GET_ITEM(seq, taken), &views[taken]) < 0)
            goto done;
    long total_counts[FAMILIES_MAX] = {0}, total_windows[FAMILIES_MAX] = {0};
    long instructions = 0, code_windows = 0, data_windows = 0, v2 = 0, v3 = 0, v4 = 0, gpr = 0, legacy = 0;
    const unsigned char *level = level_of.buf, *v2e = v2_mask.buf, *gprm = gpr_mask.buf;
    Py_BEGIN_ALLOW_THREADS
    long counts[FAMILIES_MAX + 1];
    for (Py_ssize_t w = 0; w < n; w++) {
        if (walk_code((const unsigned char *)views[w].buf, views[w].len, counts)) {
            data_windows++;
            continue;
        }
        long total = 0;
        for (int i = 0; i < families; i++)
            total += counts[i];
        long zeros = counts[families];
        if (total == 0 || (double)zeros > zero_share * (double)total) {
            data_windows++;
            continue;
        }
        code_windows++;
        instructions += total;
        int high = 0, has4 = 0, any_v2 = 0, any_gpr = 0;
        for (int i = 0; i < families; i++) {
            if (!counts[i])
                continue;
            total_counts[i] += counts[i];
            total_windows[i]++;
            if (level[i] == 3 || level[i] == 4)
                high = 1;
            if (level[i] == 4)
                has4 = 1;
            if (v2e[i])
                any_v2 = 1;
            if (gprm[i])
                any_gpr = 1;
        }
        if (high) {
            v3++;
            v4 += has4;
        } else {
            v2 += any_v2;
            legacy += counts[f_sse] > 0;
        }
        gpr += any_gpr;
    }
    Py_END_ALLOW_THREADS
    PyObject *count_list = PyList_New(families), *window_list = PyList_New(families);
    if (count_list == NULL || window_list == NULL) {
        Py_XDECREF(count_list);
        Py_XDECREF(window_list);
        goto done;
    }
    for (int i = 0; i < families; i++) {
        PyObject *c = PyLong_FromLong(total_counts[i]), *k = PyLong_FromLong(total_windows[i]);
        if (c == NULL || k == NULL) {
            Py_XDECREF(c);
            Py_XDECREF(k);
            Py_DECREF(count_list);
            Py_DECREF(window_list);
            goto done;
        }
        PyList_SET_ITEM(count_list, i, c);
        PyList_SET_ITEM(window_list, i, k);
    }
    out = Py_BuildValue("(NNllllllll)", count_list, window_list, instructions, code_windows, data_windows, v2, v3,
                        v4, gpr, legacy);
done:
    for (Py_ssize_t i = 0; i < taken; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    Py_XDECREF(seq);
    PyBuffer_Release(&level_of);
    PyBuffer_Release(&v2_mask);
    PyBuffer_Release(&gpr_mask);
    return out;
}

static int take_table(PyObject *tables, const char *name, unsigned char *into)
{
    PyObject *value = PyDict_GetItemString(tables, name);
    if (value == NULL || !PyBytes_Check(value) || PyBytes_GET_SIZE(value) != 256) {
        PyErr_Format(PyExc_ValueError, "table %s: 256 bytes expected", name);
        return -1;
    }
    memcpy(into, PyBytes_AS_STRING(value), 256);
    return 0;
}

static int take_int(PyObject *tables, const char *name, long *into)
{
    PyObject *value = PyDict_GetItemString(tables, name);
    if (value == NULL || !PyLong_Check(value)) {
        PyErr_Format(PyExc_ValueError, "number %s expected", name);
        return -1;
    }
    *into = PyLong_AsLong(value);
    return PyErr_Occurred() ? -1 : 0;
}

/* configure(tables: dict) -> None: x86decode's tables and constants, once at its import. */
static PyObject *configure(PyObject *self, PyObject *tables)
{
    (void)self;
    if (!PyDict_Check(tables)) {
        PyErr_SetString(PyExc_TypeError, "a dict expected");
        return NULL;
    }
    static const struct {
        const char *name;
        unsigned char *table;
    } byte_tables[] = {
        {"one", t_one}, {"two", t_two}, {"simd", t_simd}, {"m38", t_m38}, {"m3a", t_m3a}, {"v2", t_v2},
        {"prefix", t_prefix}, {"modrm_len", t_modrm_len}, {"fast_modrm", t_fast_modrm},
        {"fast_imm", t_fast_imm}, {"vex_map1_imm", t_vex_map1_imm}, {"mask_ops", t_mask_ops},
        {"avx2_m1", t_avx2_m1}, {"avx2_m2", t_avx2_m2}, {"avx2_m3", t_avx2_m3},
    };
    for (size_t i = 0; i < sizeof(byte_tables) / sizeof(byte_tables[0]); i++)
        if (take_table(tables, byte_tables[i].name, byte_tables[i].table) < 0)
            return NULL;
    static const struct {
        const char *name;
        int *value;
    } family_numbers[] = {
        {"SSE", &f_sse}, {"SSE3", &f_sse3}, {"SSE4", &f_sse4}, {"POPCNT", &f_popcnt}, {"CX16", &f_cx16},
        {"LAHF", &f_lahf}, {"AVX", &f_avx}, {"F16C", &f_f16c}, {"BMI", &f_bmi}, {"LZCNT", &f_lzcnt},
        {"MOVBE", &f_movbe}, {"AVX512", &f_avx512}, {"TZCNT", &f_tzcnt}, {"AVX2", &f_avx2},
        {"families", &families},
        {"I8", &c_i8}, {"I16", &c_i16}, {"I24", &c_i24}, {"IZ", &c_iz}, {"IV", &c_iv}, {"GRP3", &c_grp3},
    };
    long number;
    for (size_t i = 0; i < sizeof(family_numbers) / sizeof(family_numbers[0]); i++) {
        if (take_int(tables, family_numbers[i].name, &number) < 0)
            return NULL;
        *family_numbers[i].value = (int)number;
    }
    if (families < 1 || families > FAMILIES_MAX) {
        PyErr_SetString(PyExc_ValueError, "families out of range");
        return NULL;
    }
    if (take_int(tables, "margin", &number) < 0)
        return NULL;
    margin = number;
    if (take_int(tables, "sync_starts", &number) < 0)
        return NULL;
    if (number < 1 || number > 16) {
        PyErr_SetString(PyExc_ValueError, "sync_starts out of range");
        return NULL;
    }
    sync_starts = number;
    if (take_int(tables, "sync_steps", &number) < 0)
        return NULL;
    sync_steps = number;
    if (take_int(tables, "special", &number) < 0)
        return NULL;
    special = number;
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_O, "Take x86decode's tables and constants."},
    {"count_window", count_window, METH_O, "x86decode.count_window, in C."},
    {"count_windows", count_windows, METH_O, "count_window of each window, walked without the GIL."},
    {"tally_windows", tally_windows, METH_VARARGS, "isascan's tally of the windows' counts, without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_x86walk", "The ISA scan's window walk in C (see x86decode).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__x86walk(void)
{
    return PyModule_Create(&module);
}
