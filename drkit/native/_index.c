/* drkit.native._index: the master index's lookups (drkit/repo/format/index.py, ``MasterIndex``) in C.
 *
 * The table is the one ``MasterIndex`` keeps: ``(slots, mask)``, ``slots`` an ``array('Q')`` of
 * ``(record << 32 | position) + 1`` (0: empty), a blob's start slot the first 8 bytes of its id
 * (native-endian) & mask, linear probing; ``records[record]`` is ``(pack_id, entries)`` with
 * ``entries.types`` (1 byte a blob) and ``entries.ids`` (32 bytes a blob). These functions give the
 * same results as the Python loop (``MasterIndex._find``), holding the GIL throughout: writers swap
 * the table whole and insert under the GIL, so a call sees one consistent table.
 *
 *   find(table, records, key) -> int         the slot value minus one, -1 when not indexed (an id
 *                                            not 32 bytes long, a type that is not an int: -1)
 *   pack_ids(table, records, keys) -> set    the pack ids holding ``keys``; KeyError(key) for the
 *                                            first key not indexed
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

/* Read ``(slots, mask)``: 0, or -1 with an exception. */
static int table_open(PyObject *table, Table *t) {
    if (!PyTuple_Check(table) || PyTuple_GET_SIZE(table) != 2) {
        PyErr_SetString(PyExc_TypeError, "table must be a (slots, mask) tuple");
        return -1;
    }
    t->mask = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(table, 1));
    if (t->mask == (uint64_t)-1 && PyErr_Occurred()) return -1;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(table, 0), &t->view, PyBUF_SIMPLE) < 0) return -1;
    if ((uint64_t)t->view.len / 8 < t->mask + 1 || ((t->mask + 1) & t->mask)) {
        PyBuffer_Release(&t->view);
        PyErr_SetString(PyExc_ValueError, "table slots shorter than mask + 1, or mask + 1 not a power of 2");
        return -1;
    }
    t->slots = (const uint64_t *)t->view.buf;
    return 0;
}

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

static PyObject *index_find(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "find(table, records, key)");
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
    Py_XDECREF(owned);
    if (v == -2) return NULL;
    return PyLong_FromLongLong(v);
}

static PyObject *index_pack_ids(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "pack_ids(table, records, keys)");
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
    int64_t last = -1; /* the record last added to ``found`` */
    PyObject *key;
    while ((key = PyIter_Next(iter)) != NULL) {
        PyObject *owned, *type, *id;
        int64_t v = -2;
        if (unpack_key(key, &owned, &type, &id) == 0) {
            v = find_key(&t, records, type, id);
            Py_XDECREF(owned);
        }
        if (v == -1) {
            PyObject *error = PyObject_CallOneArg(PyExc_KeyError, key);
            if (error != NULL) {
                PyErr_SetObject(PyExc_KeyError, error);
                Py_DECREF(error);
            }
        } else if (v >= 0 && (v >> 32) != last) {
            last = v >> 32;
            /* records only grow: the record find_key read is still there */
            if (PySet_Add(found, PyTuple_GET_ITEM(PyList_GET_ITEM(records, (Py_ssize_t)last), 0)) < 0) v = -2;
        }
        Py_DECREF(key);
        if (v < 0) goto fail;
    }
    if (PyErr_Occurred()) goto fail;
    PyBuffer_Release(&t.view);
    Py_DECREF(iter);
    return found;
fail:
    PyBuffer_Release(&t.view);
    Py_DECREF(iter);
    Py_DECREF(found);
    return NULL;
}

static PyMethodDef methods[] = {
    {"find", (PyCFunction)(void (*)(void))index_find, METH_FASTCALL,
     "find(table, records, key) -> the slot value minus one, or -1 when key is not indexed"},
    {"pack_ids", (PyCFunction)(void (*)(void))index_pack_ids, METH_FASTCALL,
     "pack_ids(table, records, keys) -> the set of pack ids holding keys (KeyError(key) for one not indexed)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_index", "The master index's lookups in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__index(void) {
    str_types = PyUnicode_InternFromString("types");
    str_ids = PyUnicode_InternFromString("ids");
    if (str_types == NULL || str_ids == NULL) return NULL;
    return PyModule_Create(&module);
}
