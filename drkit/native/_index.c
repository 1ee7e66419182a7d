/* drkit.native._index: the master index's lookups (drkit/repo/format/index.py, ``MasterIndex``) in C.
 *
 * The table is the one ``MasterIndex`` keeps: ``(slots, mask)``, ``slots`` an ``array('Q')`` of
 * ``(record << 32 | position) + 1`` (0: empty), a blob's start slot the first 8 bytes of its id
 * (native-endian) & mask, linear probing; ``records[record]`` is ``(pack_id, entries)`` with
 * ``entries.types`` (1 byte a blob) and ``entries.ids`` (32 bytes a blob). These functions give the
 * same results as the Python loop (``MasterIndex._find``), holding the GIL throughout: writers swap
 * the table whole and insert under the GIL, so a call sees one consistent table.
 *
 *   find(table, records, key[, spilled]) -> int
 *                                            the slot value minus one, -1 when not indexed (an id
 *                                            not 32 bytes long, a type that is not an int: -1);
 *                                            given ``spilled`` (a spilled index's segments of
 *                                            sorted id prefixes), -3 when not in the table but a
 *                                            segment holds the id's first 4 bytes (the caller reads
 *                                            the spilled rows)
 *   pack_ids(table, records, keys[, missing]) -> set
 *                                            the pack ids holding ``keys``; KeyError(key) for the
 *                                            first key not indexed, or, given a list ``missing``,
 *                                            each such key appended to it
 *   insert(table, records, number) -> int    put the blobs of ``records[number]`` into the table
 *                                            (``MasterIndex._insert``): blobs already in it are
 *                                            left to the record that has them; how many were new
 *   rehash(table, records, new_table)        put every slot of ``table`` into the empty, larger
 *                                            ``new_table`` (``MasterIndex._reserve``)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define ID_SIZE 32

static PyObject *str_types, *str_ids;

typedef struct {
    Py_buffer view;
    const uint64_t *slots;
    uint64_t mask;
} Table;

/* Read ``(slots, mask)`` (``flags``: PyBUF_SIMPLE, or PyBUF_WRITABLE to change it): 0, or -1 with an
 * exception. */
static int table_open_flags(PyObject *table, Table *t, int flags) {
    if (!PyTuple_Check(table) || PyTuple_GET_SIZE(table) != 2) {
        PyErr_SetString(PyExc_TypeError, "table must be a (slots, mask) tuple");
        return -1;
    }
    t->mask = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(table, 1));
    if (t->mask == (uint64_t)-1 && PyErr_Occurred()) return -1;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(table, 0), &t->view, flags) < 0) return -1;
    if ((uint64_t)t->view.len / 8 < t->mask + 1 || ((t->mask + 1) & t->mask)) {
        PyBuffer_Release(&t->view);
        PyErr_SetString(PyExc_ValueError, "table slots shorter than mask + 1, or mask + 1 not a power of 2");
        return -1;
    }
    t->slots = (const uint64_t *)t->view.buf;
    return 0;
}

static int table_open(PyObject *table, Table *t) { return table_open_flags(table, t, PyBUF_SIMPLE); }

/* Whether the blob at ``position`` of ``records[record]`` has type ``type`` and id ``id``: 1, 0, or -1
 * with an exception. */
static int entry_is(PyObject *records, uint64_t record, uint64_t position, long type, const char *id) {
    if (record >= (uint64_t)PyList_GET_SIZE(records)) {
        PyErr_SetString(PyExc_SystemError, "index table names a record that does not exist");
        return -1;
    }
    PyObject *rec = PyList_GET_ITEM(records, (Py_ssize_t)record);
    if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) != 2) {
        PyErr_SetString(PyExc_TypeError, "an index record is not a (pack_id, entries) tuple");
        return -1;
    }
    PyObject *entries = PyTuple_GET_ITEM(rec, 1);
    PyObject *types = PyObject_GetAttr(entries, str_types);
    if (types == NULL) return -1;
    Py_buffer tv;
    if (PyObject_GetBuffer(types, &tv, PyBUF_SIMPLE) < 0) {
        Py_DECREF(types);
        return -1;
    }
    int result = -1;
    if (position >= (uint64_t)tv.len) {
        PyErr_SetString(PyExc_IndexError, "index table names a blob past its pack's entries");
    } else if (((const unsigned char *)tv.buf)[position] != type) {
        result = 0;
    } else {
        PyObject *ids = PyObject_GetAttr(entries, str_ids);
        if (ids != NULL) {
            Py_buffer iv;
            if (PyObject_GetBuffer(ids, &iv, PyBUF_SIMPLE) == 0) {
                if ((position + 1) * ID_SIZE > (uint64_t)iv.len) {
                    PyErr_SetString(PyExc_IndexError, "index table names an id past its pack's entries");
                } else {
                    result = memcmp((const char *)iv.buf + position * ID_SIZE, id, ID_SIZE) == 0;
                }
                PyBuffer_Release(&iv);
            }
            Py_DECREF(ids);
        }
    }
    PyBuffer_Release(&tv);
    Py_DECREF(types);
    return result;
}

/* The slot value minus one of ``(type, id)`` (>= 0), -1 when not indexed, -2 with an exception. */
static int64_t find_key(const Table *t, PyObject *records, PyObject *type, PyObject *id) {
    if (!PyLong_Check(type)) return -1; /* Python: ``types[p] == t`` is never true */
    int overflow;
    long ty = PyLong_AsLongAndOverflow(type, &overflow);
    if (ty == -1 && PyErr_Occurred()) return -2;
    if (overflow || ty < 0 || ty > 255) return -1;
    Py_buffer idv;
    if (PyObject_GetBuffer(id, &idv, PyBUF_SIMPLE) < 0) return -2;
    int64_t found = -1;
    if (idv.len == ID_SIZE) {
        uint64_t head;
        memcpy(&head, idv.buf, 8);
        uint64_t i = head & t->mask;
        for (;;) {
            uint64_t v = t->slots[i];
            if (!v) break;
            v -= 1;
            int same = entry_is(records, v >> 32, v & 0xFFFFFFFFu, ty, (const char *)idv.buf);
            if (same < 0) {
                found = -2;
                break;
            }
            if (same) {
                found = (int64_t)v;
                break;
            }
            i = (i + 1) & t->mask;
        }
    }
    PyBuffer_Release(&idv);
    return found;
}

/* ``key`` as ``(type, id)`` (borrowed into *type, *id; *owned a new reference to release): 0 or -1. */
static int unpack_key(PyObject *key, PyObject **owned, PyObject **type, PyObject **id) {
    *owned = NULL;
    if (!PyTuple_Check(key)) {
        *owned = PySequence_Tuple(key);
        if (*owned == NULL) return -1;
        key = *owned;
    }
    if (PyTuple_GET_SIZE(key) != 2) {
        PyErr_Format(PyExc_ValueError, "a blob key has %zd items, not 2 (type, id)", PyTuple_GET_SIZE(key));
        Py_CLEAR(*owned);
        return -1;
    }
    *type = PyTuple_GET_ITEM(key, 0);
    *id = PyTuple_GET_ITEM(key, 1);
    return 0;
}

static int check_records(PyObject *records) {
    if (!PyList_Check(records)) {
        PyErr_SetString(PyExc_TypeError, "records must be a list");
        return -1;
    }
    return 0;
}

/* Whether any of ``segments`` (sorted array('I') of a spilled index's id prefixes) holds ``prefix``:
 * 1, 0, or -1 with an exception. */
static int spilled_may_hold(PyObject *segments, uint32_t prefix) {
    for (Py_ssize_t s = 0; s < PyList_GET_SIZE(segments); s++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyList_GET_ITEM(segments, s), &view, PyBUF_SIMPLE) < 0) return -1;
        const uint32_t *values = (const uint32_t *)view.buf;
        Py_ssize_t n = view.len / (Py_ssize_t)sizeof(uint32_t), lo = 0, hi = n;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            uint32_t v;
            memcpy(&v, values + mid, sizeof v);
            if (v < prefix) lo = mid + 1;
            else hi = mid;
        }
        int held = 0;
        if (lo < n) {
            uint32_t v;
            memcpy(&v, values + lo, sizeof v);
            held = v == prefix;
        }
        PyBuffer_Release(&view);
        if (held) return 1;
    }
    return 0;
}

static PyObject *index_find(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "find(table, records, key[, spilled])");
        return NULL;
    }
    PyObject *spilled = nargs == 4 && args[3] != Py_None ? args[3] : NULL;
    if (spilled != NULL && !PyList_Check(spilled)) {
        PyErr_SetString(PyExc_TypeError, "spilled must be a list of sorted array('I')");
        return NULL;
    }
    if (check_records(args[1]) < 0) return NULL;
    PyObject *owned, *type, *id;
    if (unpack_key(args[2], &owned, &type, &id) < 0) return NULL;
    Table t;
    if (table_open(args[0], &t) < 0) {
        Py_XDECREF(owned);
        return NULL;
    }
    int64_t v = find_key(&t, args[1], type, id);
    PyBuffer_Release(&t.view);
    if (v == -1 && spilled != NULL && PyList_GET_SIZE(spilled) > 0) {
        if (!PyBytes_Check(id)) {
            v = -3; /* not the usual key: the caller looks */
        } else if (PyBytes_GET_SIZE(id) == ID_SIZE) {
            uint32_t prefix;
            memcpy(&prefix, PyBytes_AS_STRING(id), sizeof prefix);
            int held = spilled_may_hold(spilled, prefix);
            v = held < 0 ? -2 : held ? -3 : -1;
        }
    }
    Py_XDECREF(owned);
    if (v == -2) return NULL;
    return PyLong_FromLongLong(v);
}

/* The ``types`` and ``ids`` buffers of ``records[number]``'s entries (released by the caller): 0, or
 * -1 with an exception. */
static int entries_open(PyObject *records, Py_ssize_t number, Py_buffer *tv, Py_buffer *iv) {
    if (number < 0 || number >= PyList_GET_SIZE(records)) {
        PyErr_SetString(PyExc_IndexError, "no such index record");
        return -1;
    }
    PyObject *rec = PyList_GET_ITEM(records, number);
    if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) != 2) {
        PyErr_SetString(PyExc_TypeError, "an index record is not a (pack_id, entries) tuple");
        return -1;
    }
    PyObject *entries = PyTuple_GET_ITEM(rec, 1);
    PyObject *types = PyObject_GetAttr(entries, str_types);
    if (types == NULL) return -1;
    int got = PyObject_GetBuffer(types, tv, PyBUF_SIMPLE);
    Py_DECREF(types); /* the entries hold it; the buffer view holds its own reference */
    if (got < 0) return -1;
    PyObject *ids = PyObject_GetAttr(entries, str_ids);
    if (ids == NULL) {
        PyBuffer_Release(tv);
        return -1;
    }
    got = PyObject_GetBuffer(ids, iv, PyBUF_SIMPLE);
    Py_DECREF(ids);
    if (got < 0) {
        PyBuffer_Release(tv);
        return -1;
    }
    if (iv->len != tv->len * ID_SIZE || tv->len > 0xFFFFFFFFLL) {
        PyBuffer_Release(iv);
        PyBuffer_Release(tv);
        PyErr_SetString(PyExc_ValueError, "a record's ids are not 32 bytes for each of its types");
        return -1;
    }
    return 0;
}

/* The records' ``types`` and ``ids`` buffers, each opened on first use and kept for one call (the
 * entries are immutable bytes and records only grow; the GIL is held throughout). */
typedef struct {
    PyObject *records;
    Py_ssize_t n;
    Py_buffer *tvs, *ivs;
    char *open;
} Records;

static int records_init(Records *r, PyObject *records) {
    r->records = records;
    r->n = PyList_GET_SIZE(records);
    size_t n = r->n ? (size_t)r->n : 1;
    r->tvs = PyMem_Calloc(n, sizeof(Py_buffer));
    r->ivs = PyMem_Calloc(n, sizeof(Py_buffer));
    r->open = PyMem_Calloc(n, 1);
    if (r->tvs == NULL || r->ivs == NULL || r->open == NULL) {
        PyMem_Free(r->tvs);
        PyMem_Free(r->ivs);
        PyMem_Free(r->open);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void records_release(Records *r) {
    for (Py_ssize_t i = 0; i < r->n; i++) {
        if (r->open[i]) {
            PyBuffer_Release(&r->ivs[i]);
            PyBuffer_Release(&r->tvs[i]);
        }
    }
    PyMem_Free(r->tvs);
    PyMem_Free(r->ivs);
    PyMem_Free(r->open);
}

/* Open ``record`` (0) or set an exception (-1); ``position`` must be within its entries. */
static int records_at(Records *r, uint64_t record, uint64_t position) {
    if (record >= (uint64_t)r->n) {
        PyErr_SetString(PyExc_SystemError, "index table names a record that does not exist");
        return -1;
    }
    if (!r->open[record]) {
        if (entries_open(r->records, (Py_ssize_t)record, &r->tvs[record], &r->ivs[record]) < 0) return -1;
        r->open[record] = 1;
    }
    if (position >= (uint64_t)r->tvs[record].len) {
        PyErr_SetString(PyExc_IndexError, "index table names a blob past its pack's entries");
        return -1;
    }
    return 0;
}

/* find_key with the records' buffers at hand: >= 0, -1 when not indexed, -2 with an exception. */
static int64_t find_cached(const Table *t, Records *r, long ty, const char *id) {
    uint64_t head;
    memcpy(&head, id, 8);
    uint64_t i = head & t->mask;
    for (;;) {
        uint64_t v = t->slots[i];
        if (!v) return -1;
        v -= 1;
        uint64_t record = v >> 32, position = v & 0xFFFFFFFFu;
        if (records_at(r, record, position) < 0) return -2;
        if (((const unsigned char *)r->tvs[record].buf)[position] == ty &&
            memcmp((const char *)r->ivs[record].buf + position * ID_SIZE, id, ID_SIZE) == 0)
            return (int64_t)v;
        i = (i + 1) & t->mask;
    }
}

static PyObject *index_pack_ids(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "pack_ids(table, records, keys[, missing])");
        return NULL;
    }
    PyObject *missing = nargs == 4 ? args[3] : NULL;
    if (missing != NULL && !PyList_Check(missing)) {
        PyErr_SetString(PyExc_TypeError, "missing must be a list");
        return NULL;
    }
    PyObject *records = args[1];
    if (check_records(records) < 0) return NULL;
    PyObject *iter = PyObject_GetIter(args[2]);
    if (iter == NULL) return NULL;
    PyObject *found = PySet_New(NULL);
    if (found == NULL) {
        Py_DECREF(iter);
        return NULL;
    }
    Table t;
    if (table_open(args[0], &t) < 0) {
        Py_DECREF(found);
        Py_DECREF(iter);
        return NULL;
    }
    Records r;
    if (records_init(&r, records) < 0) {
        PyBuffer_Release(&t.view);
        Py_DECREF(found);
        Py_DECREF(iter);
        return NULL;
    }
    int64_t last = -1; /* the record last added to ``found`` */
    PyObject *key;
    while ((key = PyIter_Next(iter)) != NULL) {
        PyObject *owned, *type, *id;
        int64_t v = -2;
        if (unpack_key(key, &owned, &type, &id) == 0) {
            if (PyLong_Check(type) && PyBytes_CheckExact(id)) { /* the usual key: no buffer calls */
                int overflow;
                long ty = PyLong_AsLongAndOverflow(type, &overflow);
                if (ty == -1 && PyErr_Occurred()) {
                    v = -2;
                } else if (overflow || ty < 0 || ty > 255 || PyBytes_GET_SIZE(id) != ID_SIZE) {
                    v = -1;
                } else {
                    v = find_cached(&t, &r, ty, PyBytes_AS_STRING(id));
                }
            } else {
                v = find_key(&t, records, type, id);
            }
            Py_XDECREF(owned);
        }
        if (v == -1 && missing != NULL) { /* left to the caller (a spilled index's keys) */
            int appended = PyList_Append(missing, key);
            Py_DECREF(key);
            if (appended < 0) goto fail;
            continue;
        }
        if (v == -1) {
            PyObject *error = PyObject_CallOneArg(PyExc_KeyError, key);
            if (error != NULL) {
                PyErr_SetObject(PyExc_KeyError, error);
                Py_DECREF(error);
            }
        } else if (v >= 0 && (v >> 32) != last) {
            last = v >> 32;
            /* records only grow: the record find read is still there */
            if (PySet_Add(found, PyTuple_GET_ITEM(PyList_GET_ITEM(records, (Py_ssize_t)last), 0)) < 0) v = -2;
        }
        Py_DECREF(key);
        if (v < 0) goto fail;
    }
    if (PyErr_Occurred()) goto fail;
    records_release(&r);
    PyBuffer_Release(&t.view);
    Py_DECREF(iter);
    return found;
fail:
    records_release(&r);
    PyBuffer_Release(&t.view);
    Py_DECREF(iter);
    Py_DECREF(found);
    return NULL;
}

static PyObject *index_insert(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "insert(table, records, number)");
        return NULL;
    }
    PyObject *records = args[1];
    if (check_records(records) < 0) return NULL;
    Py_ssize_t number = PyLong_AsSsize_t(args[2]);
    if (number == -1 && PyErr_Occurred()) return NULL;
    Py_buffer tv, iv;
    if (entries_open(records, number, &tv, &iv) < 0) return NULL;
    Table t;
    if (table_open_flags(args[0], &t, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&iv);
        PyBuffer_Release(&tv);
        return NULL;
    }
    uint64_t *slots = (uint64_t *)t.view.buf;
    const unsigned char *types = (const unsigned char *)tv.buf;
    const char *ids = (const char *)iv.buf;
    uint64_t base = ((uint64_t)number << 32) + 1;
    Py_ssize_t added = 0;
    int failed = 0;
    for (Py_ssize_t p = 0; p < tv.len && !failed; p++) {
        const char *id = ids + p * ID_SIZE;
        uint64_t head;
        memcpy(&head, id, 8);
        uint64_t i = head & t.mask;
        for (uint64_t probes = 0;; probes++) {
            if (probes > t.mask) { /* the caller reserves room first: a full table is a bug */
                PyErr_SetString(PyExc_SystemError, "index table full");
                failed = 1;
                break;
            }
            uint64_t v = slots[i];
            if (!v) {
                slots[i] = base + (uint64_t)p;
                added++;
                break;
            }
            v -= 1;
            int same = entry_is(records, v >> 32, v & 0xFFFFFFFFu, types[p], id);
            if (same < 0) {
                failed = 1;
                break;
            }
            if (same) break; /* already indexed: the first pack that holds a blob keeps it */
            i = (i + 1) & t.mask;
        }
    }
    PyBuffer_Release(&t.view);
    PyBuffer_Release(&iv);
    PyBuffer_Release(&tv);
    if (failed) return NULL;
    return PyLong_FromSsize_t(added);
}

static PyObject *index_rehash(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "rehash(table, records, new_table)");
        return NULL;
    }
    PyObject *records = args[1];
    if (check_records(records) < 0) return NULL;
    Table old, new;
    if (table_open(args[0], &old) < 0) return NULL;
    if (table_open_flags(args[2], &new, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&old.view);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(records);
    /* each record's ids, opened on first use */
    Py_buffer *tvs = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_buffer));
    Py_buffer *ivs = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_buffer));
    char *open = PyMem_Calloc(n ? (size_t)n : 1, 1);
    int failed = 0;
    if (tvs == NULL || ivs == NULL || open == NULL) {
        PyErr_NoMemory();
        failed = 1;
    }
    uint64_t *slots = (uint64_t *)new.view.buf;
    for (uint64_t s = 0; s <= old.mask && !failed; s++) {
        uint64_t v = old.slots[s];
        if (!v) continue;
        uint64_t record = (v - 1) >> 32, position = (v - 1) & 0xFFFFFFFFu;
        if (record >= (uint64_t)n) {
            PyErr_SetString(PyExc_SystemError, "index table names a record that does not exist");
            failed = 1;
            break;
        }
        if (!open[record]) {
            if (entries_open(records, (Py_ssize_t)record, &tvs[record], &ivs[record]) < 0) {
                failed = 1;
                break;
            }
            open[record] = 1;
        }
        if (position >= (uint64_t)tvs[record].len) {
            PyErr_SetString(PyExc_IndexError, "index table names a blob past its pack's entries");
            failed = 1;
            break;
        }
        uint64_t head;
        memcpy(&head, (const char *)ivs[record].buf + position * ID_SIZE, 8);
        uint64_t i = head & new.mask;
        uint64_t probes = 0;
        while (slots[i]) {
            if (++probes > new.mask) {
                PyErr_SetString(PyExc_ValueError, "the new index table is too small");
                failed = 1;
                break;
            }
            i = (i + 1) & new.mask;
        }
        if (!failed) slots[i] = v;
    }
    if (open != NULL) {
        for (Py_ssize_t r = 0; r < n; r++) {
            if (open[r]) {
                PyBuffer_Release(&ivs[r]);
                PyBuffer_Release(&tvs[r]);
            }
        }
    }
    PyMem_Free(open);
    PyMem_Free(ivs);
    PyMem_Free(tvs);
    PyBuffer_Release(&new.view);
    PyBuffer_Release(&old.view);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* prefix_hits(segments, prefix): the (segment, position) of every entry equal to ``prefix`` in each of
 * ``segments`` (a list of sorted array("I") buffers), or None when there is none (the usual answer: a
 * lookup of a blob that is not spilled). Binary search on the buffers: no Python int per step. */
static PyObject *index_prefix_hits(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "prefix_hits(list of sorted array('I'), prefix)");
        return NULL;
    }
    unsigned long long wide = PyLong_AsUnsignedLongLong(args[1]);
    if (wide == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (wide > 0xFFFFFFFFull) {
        PyErr_SetString(PyExc_OverflowError, "a prefix is 4 bytes");
        return NULL;
    }
    uint32_t prefix = (uint32_t)wide;
    PyObject *segments = args[0];
    PyObject *hits = NULL;
    for (Py_ssize_t s = 0; s < PyList_GET_SIZE(segments); s++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyList_GET_ITEM(segments, s), &view, PyBUF_SIMPLE) < 0) goto fail;
        const uint32_t *values = (const uint32_t *)view.buf;
        Py_ssize_t n = view.len / (Py_ssize_t)sizeof(uint32_t), lo = 0, hi = n;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            uint32_t v;
            memcpy(&v, values + mid, sizeof v);
            if (v < prefix) lo = mid + 1;
            else hi = mid;
        }
        for (; lo < n; lo++) {
            uint32_t v;
            memcpy(&v, values + lo, sizeof v);
            if (v != prefix) break;
            if (hits == NULL && (hits = PyList_New(0)) == NULL) {
                PyBuffer_Release(&view);
                goto fail;
            }
            PyObject *hit = Py_BuildValue("(nn)", s, lo);
            if (hit == NULL || PyList_Append(hits, hit) < 0) {
                Py_XDECREF(hit);
                PyBuffer_Release(&view);
                goto fail;
            }
            Py_DECREF(hit);
        }
        PyBuffer_Release(&view);
    }
    if (hits == NULL) Py_RETURN_NONE;
    return hits;
fail:
    Py_XDECREF(hits);
    return NULL;
}

static PyMethodDef methods[] = {
    {"prefix_hits", (PyCFunction)(void (*)(void))index_prefix_hits, METH_FASTCALL,
     "prefix_hits(segments, prefix) -> [(segment, position), ...] of entries equal to prefix, or None"},
    {"find", (PyCFunction)(void (*)(void))index_find, METH_FASTCALL,
     "find(table, records, key[, spilled]) -> the slot value minus one, or -1 when key is not indexed "
     "(-3: not in the table, and a segment of spilled prefixes holds the id's first 4 bytes)"},
    {"pack_ids", (PyCFunction)(void (*)(void))index_pack_ids, METH_FASTCALL,
     "pack_ids(table, records, keys) -> the set of pack ids holding keys (KeyError(key) for one not indexed)"},
    {"insert", (PyCFunction)(void (*)(void))index_insert, METH_FASTCALL,
     "insert(table, records, number) -> how many blobs of records[number] were new to the table"},
    {"rehash", (PyCFunction)(void (*)(void))index_rehash, METH_FASTCALL,
     "rehash(table, records, new_table): every slot of table into the empty, larger new_table"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_index", "The master index's lookups and inserts in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__index(void) {
    str_types = PyUnicode_InternFromString("types");
    str_ids = PyUnicode_InternFromString("ids");
    if (str_types == NULL || str_ids == NULL) return NULL;
    return PyModule_Create(&module);
}
