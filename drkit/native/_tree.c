/* drkit.native._tree: a directory's tree encoded in C (version 2, docs/format.md "Trees").
 *
 * ``encode(entries, types)`` gives the bytes ``drkit.repo.format.tree.encode_tree`` gives for a list
 * of ``Entry`` tuples (16 fields: name, type, mode, uid, gid, mtime_ns, size, ids, target, user,
 * group, xattrs, inode, device, links, sparse), in any order: sorted by name bytes, the owner names'
 * table in order of first use (each entry's user, then its group), extended attributes sorted by
 * name. ``types``: the three ``NodeType`` members (file, dir, symlink), matched by identity.
 *
 * It returns None, and encodes nothing, for anything it does not take exactly as the Python encoder
 * does: an entry that is not a 16-tuple, a field of another type than the walk makes (ints that are
 * not exact ints, names, ids or targets that are not bytes, owners that are not str or None, a type
 * that is not one of ``types``), a value out of its column's range, duplicate names, malformed ids,
 * xattr names empty or repeated. The caller then runs the Python encoder, which encodes or raises
 * as before: the C encoder never decides an error.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ID_LEN 32
#define FIELDS 16
#define FIXED_PER_ENTRY 72 /* B B H I I I I q Q Q Q I I I I I */

typedef struct {
    const char *name;
    Py_ssize_t nlen;
    const char *ids;
    Py_ssize_t idlen;
    const char *target;
    Py_ssize_t tlen;
    int64_t mtime;
    uint64_t size, inode, device;
    uint32_t uid, gid, uref, gref, links;
    uint16_t mode;
    uint8_t type, sparse;
    Py_ssize_t x_first, x_count; /* its xattr records in the shared array */
    PyObject *user, *group;
} Row;

typedef struct {
    PyObject *key; /* the name, encoded (owned) */
    const char *value;
    Py_ssize_t vlen;
} XRec;

static int row_cmp(const void *a, const void *b) {
    const Row *x = *(const Row *const *)a, *y = *(const Row *const *)b;
    Py_ssize_t m = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = m ? memcmp(x->name, y->name, (size_t)m) : 0;
    if (c) return c;
    return (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

static int xrec_cmp(const void *a, const void *b) {
    const XRec *x = a, *y = b;
    Py_ssize_t xl = PyBytes_GET_SIZE(x->key), yl = PyBytes_GET_SIZE(y->key);
    Py_ssize_t m = xl < yl ? xl : yl;
    int c = m ? memcmp(PyBytes_AS_STRING(x->key), PyBytes_AS_STRING(y->key), (size_t)m) : 0;
    if (c) return c;
    return (xl > yl) - (xl < yl);
}

/* An exact int in [0, max] (1), or not (0; no Python error left set). */
static int get_u(PyObject *o, uint64_t max, uint64_t *out) {
    if (!PyLong_CheckExact(o)) return 0;
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (v > max) return 0;
    *out = v;
    return 1;
}

static int get_i64(PyObject *o, int64_t *out) {
    if (!PyLong_CheckExact(o)) return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

static inline unsigned char *put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static inline unsigned char *put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

static inline unsigned char *put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
    return p + 8;
}

/* The owner name's index in the table (1-based; 0 for None), adding it on first use; -1: declined
 * (not str or None), -2: a Python error. */
static long owner_ref(PyObject *s, PyObject *refs, PyObject *order) {
    if (s == Py_None) return 0;
    if (!PyUnicode_CheckExact(s)) return -1;
    PyObject *got = PyDict_GetItemWithError(refs, s);
    if (got != NULL) return PyLong_AsLong(got);
    if (PyErr_Occurred()) return -2;
    Py_ssize_t n = PyList_GET_SIZE(order) + 1;
    if (n > (Py_ssize_t)UINT32_MAX) return -1;
    PyObject *ref = PyLong_FromSsize_t(n);
    if (ref == NULL) return -2;
    int rc = PyDict_SetItem(refs, s, ref);
    Py_DECREF(ref);
    if (rc < 0 || PyList_Append(order, s) < 0) return -2;
    return (long)n;
}

/* One entry's fields into ``r`` (1), declined (0), or a Python error (-1). Its xattrs are appended to
 * ``*xs`` (grown as needed), their encoded names owned there. */
static int take_row(PyObject *e, PyObject *types, Row *r, XRec **xs, Py_ssize_t *nx, Py_ssize_t *cap,
                    Py_ssize_t *xbytes) {
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != FIELDS) return 0;
    PyObject *name = PyTuple_GET_ITEM(e, 0), *type = PyTuple_GET_ITEM(e, 1);
    PyObject *ids = PyTuple_GET_ITEM(e, 7), *target = PyTuple_GET_ITEM(e, 8);
    PyObject *sparse = PyTuple_GET_ITEM(e, 15), *xattrs = PyTuple_GET_ITEM(e, 11);
    if (!PyBytes_CheckExact(name) || !PyBytes_CheckExact(ids) || !PyBytes_CheckExact(target)) return 0;
    if (type == PyTuple_GET_ITEM(types, 0)) r->type = 0;
    else if (type == PyTuple_GET_ITEM(types, 1)) r->type = 1;
    else if (type == PyTuple_GET_ITEM(types, 2)) r->type = 2;
    else return 0;
    if (sparse == Py_True) r->sparse = 1;
    else if (sparse == Py_False) r->sparse = 0;
    else return 0;
    uint64_t v;
    if (!get_u(PyTuple_GET_ITEM(e, 2), 0xFFFF, &v)) return 0;
    r->mode = (uint16_t)v;
    if (!get_u(PyTuple_GET_ITEM(e, 3), UINT32_MAX, &v)) return 0;
    r->uid = (uint32_t)v;
    if (!get_u(PyTuple_GET_ITEM(e, 4), UINT32_MAX, &v)) return 0;
    r->gid = (uint32_t)v;
    if (!get_i64(PyTuple_GET_ITEM(e, 5), &r->mtime)) return 0;
    if (!get_u(PyTuple_GET_ITEM(e, 6), UINT64_MAX, &r->size)) return 0;
    if (!get_u(PyTuple_GET_ITEM(e, 12), UINT64_MAX, &r->inode)) return 0;
    if (!get_u(PyTuple_GET_ITEM(e, 13), UINT64_MAX, &r->device)) return 0;
    if (!get_u(PyTuple_GET_ITEM(e, 14), UINT32_MAX, &v)) return 0;
    r->links = (uint32_t)v;
    r->name = PyBytes_AS_STRING(name);
    r->nlen = PyBytes_GET_SIZE(name);
    r->ids = PyBytes_AS_STRING(ids);
    r->idlen = PyBytes_GET_SIZE(ids);
    r->target = PyBytes_AS_STRING(target);
    r->tlen = PyBytes_GET_SIZE(target);
    if (r->nlen > (Py_ssize_t)UINT32_MAX || r->tlen > (Py_ssize_t)UINT32_MAX ||
        r->idlen / ID_LEN > (Py_ssize_t)UINT32_MAX)
        return 0;
    if (r->idlen % ID_LEN || (r->type == 1 && r->idlen != ID_LEN)) return 0;
    r->user = PyTuple_GET_ITEM(e, 9);
    r->group = PyTuple_GET_ITEM(e, 10);
    r->x_first = *nx;
    r->x_count = 0;
    if (!PyTuple_Check(xattrs)) return 0;
    Py_ssize_t k = PyTuple_GET_SIZE(xattrs);
    if (k == 0) return 1;
    if (k > (Py_ssize_t)UINT32_MAX) return 0;
    if (*nx + k > *cap) {
        Py_ssize_t want = (*nx + k) * 2;
        XRec *grown = PyMem_Realloc(*xs, (size_t)want * sizeof(XRec));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *xs = grown;
        *cap = want;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *kv = PyTuple_GET_ITEM(xattrs, i);
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2) return 0;
        PyObject *key = PyTuple_GET_ITEM(kv, 0), *value = PyTuple_GET_ITEM(kv, 1);
        if (!PyUnicode_CheckExact(key) || !PyBytes_CheckExact(value)) return 0;
        PyObject *kb = PyUnicode_AsEncodedString(key, "utf-8", "surrogateescape");
        if (kb == NULL) {
            PyErr_Clear();
            return 0;
        }
        XRec *x = &(*xs)[(*nx)++];
        x->key = kb;
        x->value = PyBytes_AS_STRING(value);
        x->vlen = PyBytes_GET_SIZE(value);
        r->x_count++;
        if (PyBytes_GET_SIZE(kb) == 0 || PyBytes_GET_SIZE(kb) > (Py_ssize_t)UINT32_MAX ||
            x->vlen > (Py_ssize_t)UINT32_MAX)
            return 0;
        *xbytes += 8 + PyBytes_GET_SIZE(kb) + x->vlen;
    }
    XRec *mine = *xs + r->x_first;
    qsort(mine, (size_t)k, sizeof(XRec), xrec_cmp);
    for (Py_ssize_t i = 1; i < k; i++)
        if (xrec_cmp(&mine[i - 1], &mine[i]) == 0) return 0;
    return 1;
}

static PyObject *tree_encode(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *entries, *types;
    if (!PyArg_ParseTuple(args, "OO!:encode", &entries, &PyTuple_Type, &types)) return NULL;
    if (PyTuple_GET_SIZE(types) != 3) {
        PyErr_SetString(PyExc_ValueError, "types: the three node types");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(entries, "entries: a sequence");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *result = NULL, *refs = NULL, *order = NULL, *encoded = NULL;
    Row *rows = NULL;
    Row **sorted = NULL;
    XRec *xs = NULL;
    Py_ssize_t nx = 0, xcap = 0, xbytes = 0;
    if (n > (Py_ssize_t)UINT32_MAX) goto decline;
    rows = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Row));
    sorted = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Row *));
    refs = PyDict_New();
    order = PyList_New(0);
    if (rows == NULL || sorted == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (refs == NULL || order == NULL) goto done;
    Py_ssize_t var = 0; /* names, ids, targets */
    for (Py_ssize_t i = 0; i < n; i++) {
        int rc = take_row(items[i], types, &rows[i], &xs, &nx, &xcap, &xbytes);
        if (rc < 0) goto done;
        if (rc == 0) goto decline;
        sorted[i] = &rows[i];
        var += rows[i].nlen + rows[i].idlen + rows[i].tlen;
    }
    qsort(sorted, (size_t)n, sizeof(Row *), row_cmp);
    for (Py_ssize_t i = 1; i < n; i++)
        if (row_cmp(&sorted[i - 1], &sorted[i]) == 0) goto decline;
    for (Py_ssize_t i = 0; i < n; i++) {
        Row *r = sorted[i];
        long u = owner_ref(r->user, refs, order);
        if (u == -2) goto done;
        if (u < 0) goto decline;
        long g = owner_ref(r->group, refs, order);
        if (g == -2) goto done;
        if (g < 0) goto decline;
        r->uref = (uint32_t)u;
        r->gref = (uint32_t)g;
    }
    Py_ssize_t ns = PyList_GET_SIZE(order);
    encoded = PyList_New(ns);
    if (encoded == NULL) goto done;
    Py_ssize_t sbytes = 0;
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *b = PyUnicode_AsEncodedString(PyList_GET_ITEM(order, i), "utf-8", "surrogateescape");
        if (b == NULL) {
            PyErr_Clear();
            goto decline;
        }
        PyList_SET_ITEM(encoded, i, b);
        if (PyBytes_GET_SIZE(b) > (Py_ssize_t)UINT32_MAX) goto decline;
        sbytes += PyBytes_GET_SIZE(b);
    }
    Py_ssize_t total = 12 + FIXED_PER_ENTRY * n + 4 * ns + sbytes + var + xbytes;
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) goto done;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(result);
    memcpy(p, "DRT\x02", 4);
    p = put32(p + 4, (uint32_t)n);
    p = put32(p, (uint32_t)ns);
    for (Py_ssize_t i = 0; i < n; i++) *p++ = sorted[i]->type;
    for (Py_ssize_t i = 0; i < n; i++) *p++ = sorted[i]->sparse;
    for (Py_ssize_t i = 0; i < n; i++) p = put16(p, sorted[i]->mode);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, sorted[i]->uid);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, sorted[i]->gid);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, sorted[i]->uref);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, sorted[i]->gref);
    for (Py_ssize_t i = 0; i < n; i++) p = put64(p, (uint64_t)sorted[i]->mtime);
    for (Py_ssize_t i = 0; i < n; i++) p = put64(p, sorted[i]->size);
    for (Py_ssize_t i = 0; i < n; i++) p = put64(p, sorted[i]->inode);
    for (Py_ssize_t i = 0; i < n; i++) p = put64(p, sorted[i]->device);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, sorted[i]->links);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, (uint32_t)sorted[i]->nlen);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, (uint32_t)(sorted[i]->idlen / ID_LEN));
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, (uint32_t)sorted[i]->tlen);
    for (Py_ssize_t i = 0; i < n; i++) p = put32(p, (uint32_t)sorted[i]->x_count);
    for (Py_ssize_t i = 0; i < ns; i++) p = put32(p, (uint32_t)PyBytes_GET_SIZE(PyList_GET_ITEM(encoded, i)));
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *b = PyList_GET_ITEM(encoded, i);
        memcpy(p, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        p += PyBytes_GET_SIZE(b);
    }
#define COPY(ptr, len)                                  \
    for (Py_ssize_t i = 0; i < n; i++) {               \
        if (sorted[i]->len) memcpy(p, sorted[i]->ptr, (size_t)sorted[i]->len); \
        p += sorted[i]->len;                           \
    }
    COPY(name, nlen)
    COPY(ids, idlen)
    COPY(target, tlen)
#undef COPY
    for (Py_ssize_t i = 0; i < n; i++) {
        const Row *r = sorted[i];
        for (Py_ssize_t j = 0; j < r->x_count; j++) {
            const XRec *x = &xs[r->x_first + j];
            Py_ssize_t kl = PyBytes_GET_SIZE(x->key);
            p = put32(p, (uint32_t)kl);
            memcpy(p, PyBytes_AS_STRING(x->key), (size_t)kl);
            p = put32(p + kl, (uint32_t)x->vlen);
            if (x->vlen) memcpy(p, x->value, (size_t)x->vlen);
            p += x->vlen;
        }
    }
    if ((char *)p != PyBytes_AS_STRING(result) + total) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_SystemError, "_tree.encode: size miscounted");
    }
    goto done;
decline:
    result = Py_NewRef(Py_None);
done:
    for (Py_ssize_t i = 0; i < nx; i++) Py_DECREF(xs[i].key);
    PyMem_Free(xs);
    PyMem_Free(rows);
    PyMem_Free(sorted);
    Py_XDECREF(refs);
    Py_XDECREF(order);
    Py_XDECREF(encoded);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef module_methods[] = {
    {"encode", (PyCFunction)tree_encode, METH_VARARGS,
     "encode(entries, types): the version 2 tree of the Entry tuples entries, as "
     "drkit.repo.format.tree.encode_tree encodes them; None when it declines (the Python encoder "
     "then encodes or raises)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef tree_module = {
    PyModuleDef_HEAD_INIT, "drkit.native._tree", "A directory's tree encoded in C (version 2).",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tree(void) { return PyModule_Create(&tree_module); }
