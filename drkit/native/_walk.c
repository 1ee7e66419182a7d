/* drkit.native._walk: one directory of a backup walk listed in C, with the GIL released.
 *
 * ``listdir(path, xattrs)`` opens the directory, reads every name (not "." and ".."), sorts them
 * bytewise (as Python sorts bytes), ``fstatat(AT_SYMLINK_NOFOLLOW)``s each entry and, with
 * ``xattrs``, asks ``llistxattr`` whether it has extended attributes, all without the GIL: the walk
 * releases and retakes the GIL once per directory instead of twice per entry (``os.lstat``,
 * ``os.listxattr``), and makes no ``os.stat_result`` (its float times) per entry.
 *
 * Returns an int (the errno: the directory could not be opened or read) or ``(names, stats)``: the
 * names (bytes), sorted, and for each either an int (the errno of its ``lstat``) or a ``Stat``: the
 * fields of ``os.stat_result`` the walk reads (st_mode, st_ino, st_dev, st_nlink, st_uid, st_gid,
 * st_size, st_blocks, st_mtime_ns, st_ctime_ns) and ``bare``: True when the entry certainly has no
 * extended attributes as ``drkit.repo.engine.fsmeta.read_xattrs`` reads them (``llistxattr`` found
 * none, or failed with an errno that function takes as none); False when the walk must read them
 * (or ``xattrs`` was false: the walk reads none then anyway).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structseq.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

static PyTypeObject *StatType;

static PyStructSequence_Field stat_fields[] = {
    {"st_mode", NULL},  {"st_ino", NULL},  {"st_dev", NULL},      {"st_nlink", NULL},
    {"st_uid", NULL},   {"st_gid", NULL},  {"st_size", NULL},     {"st_blocks", NULL},
    {"st_mtime_ns", NULL}, {"st_ctime_ns", NULL}, {"bare", NULL}, {NULL, NULL},
};

static PyStructSequence_Desc stat_desc = {
    "drkit.native._walk.Stat",
    "An entry's lstat fields the walk reads, and whether it certainly has no extended attributes.",
    stat_fields, 11,
};

typedef struct {
    char *name;   /* in ``names`` */
    size_t len;
    int err;      /* lstat's errno, 0: ``st`` holds it */
    int bare;
    struct stat st;
} Item;

static int item_cmp(const void *a, const void *b) {
    return strcmp(((const Item *)a)->name, ((const Item *)b)->name);
}

/* Whether read_xattrs would find none: llistxattr says 0, or an errno it takes as none. */
static int no_xattrs(const char *full) {
    ssize_t r = llistxattr(full, NULL, 0);
    if (r == 0) return 1;
    if (r > 0) return 0;
    return errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENODATA || errno == EPERM ||
           errno == EACCES;
}

/* The listing without the GIL: 0, or an errno (the directory could not be opened or read). */
static int list_dir(const char *path, size_t pathlen, int xattrs, Item **out, size_t *count,
                    char **pool) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return e;
    }
    size_t cap = 64, n = 0, pcap = 4096, pused = 0;
    Item *items = malloc(cap * sizeof(Item));
    char *names = malloc(pcap);
    int err = 0;
    if (items == NULL || names == NULL) {
        err = ENOMEM;
        goto fail;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno) err = errno;
            break;
        }
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
        size_t len = strlen(nm);
        if (pused + len + 1 > pcap) {
            while (pused + len + 1 > pcap) pcap *= 2;
            char *grown = realloc(names, pcap);
            if (grown == NULL) {
                err = ENOMEM;
                goto fail;
            }
            names = grown;
        }
        if (n == cap) {
            cap *= 2;
            Item *grown = realloc(items, cap * sizeof(Item));
            if (grown == NULL) {
                err = ENOMEM;
                goto fail;
            }
            items = grown;
        }
        memcpy(names + pused, nm, len + 1);
        items[n].name = (char *)(uintptr_t)pused; /* an offset until ``names`` stops moving */
        items[n].len = len;
        n++;
        pused += len + 1;
    }
    if (err) goto fail;
    for (size_t i = 0; i < n; i++) items[i].name = names + (uintptr_t)items[i].name;
    qsort(items, n, sizeof(Item), item_cmp);
    char *full = NULL;
    size_t fcap = 0;
    for (size_t i = 0; i < n; i++) {
        Item *it = &items[i];
        it->bare = 0;
        it->err = fstatat(dirfd(d), it->name, &it->st, AT_SYMLINK_NOFOLLOW) ? errno : 0;
        if (it->err || !xattrs) continue;
        size_t want = pathlen + 1 + it->len + 1;
        if (want > fcap) {
            char *grown = realloc(full, want * 2);
            if (grown == NULL) continue; /* not bare: the walk reads them */
            full = grown;
            fcap = want * 2;
        }
        memcpy(full, path, pathlen);
        size_t at = pathlen;
        if (!pathlen || path[pathlen - 1] != '/') full[at++] = '/';
        memcpy(full + at, it->name, it->len + 1);
        it->bare = no_xattrs(full);
    }
    free(full);
    closedir(d);
    *out = items;
    *count = n;
    *pool = names;
    return 0;
fail:
    free(items);
    free(names);
    closedir(d);
    return err;
}

/* Nanoseconds since the epoch, as os.stat_result's *_ns (exact also beyond the years 1677-2262). */
static PyObject *ns_of(time_t sec, long nsec) {
    if (sec > -9000000000LL && sec < 9000000000LL)
        return PyLong_FromLongLong((long long)sec * 1000000000LL + nsec);
    PyObject *s = PyLong_FromLongLong((long long)sec), *g = PyLong_FromLong(1000000000L);
    PyObject *n = PyLong_FromLong(nsec), *m = NULL, *out = NULL;
    if (s != NULL && g != NULL && n != NULL && (m = PyNumber_Multiply(s, g)) != NULL)
        out = PyNumber_Add(m, n);
    Py_XDECREF(s);
    Py_XDECREF(g);
    Py_XDECREF(n);
    Py_XDECREF(m);
    return out;
}

static PyObject *make_stat(const Item *it) {
    PyObject *s = PyStructSequence_New(StatType);
    if (s == NULL) return NULL;
    const struct stat *st = &it->st;
    PyObject *v[11] = {
        PyLong_FromUnsignedLong(st->st_mode),
        PyLong_FromUnsignedLongLong(st->st_ino),
        PyLong_FromUnsignedLongLong(st->st_dev),
        PyLong_FromUnsignedLongLong(st->st_nlink),
        PyLong_FromUnsignedLong(st->st_uid),
        PyLong_FromUnsignedLong(st->st_gid),
        PyLong_FromLongLong(st->st_size),
        PyLong_FromLongLong(st->st_blocks),
        ns_of(st->st_mtim.tv_sec, st->st_mtim.tv_nsec),
        ns_of(st->st_ctim.tv_sec, st->st_ctim.tv_nsec),
        Py_NewRef(it->bare ? Py_True : Py_False),
    };
    for (int i = 0; i < 11; i++) {
        if (v[i] == NULL) {
            for (int j = i; j < 11; j++) Py_XDECREF(v[j]);
            Py_DECREF(s);
            return NULL;
        }
        PyStructSequence_SET_ITEM(s, i, v[i]);
    }
    return s;
}

static PyObject *walk_listdir(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *path;
    Py_ssize_t pathlen;
    int xattrs;
    if (!PyArg_ParseTuple(args, "y#p:listdir", &path, &pathlen, &xattrs)) return NULL;
    if ((Py_ssize_t)strlen(path) != pathlen) {
        PyErr_SetString(PyExc_ValueError, "listdir: embedded null byte");
        return NULL;
    }
    Item *items = NULL;
    char *pool = NULL;
    size_t n = 0;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = list_dir(path, (size_t)pathlen, xattrs, &items, &n, &pool);
    Py_END_ALLOW_THREADS
    if (err) return PyLong_FromLong(err);
    PyObject *names = PyList_New((Py_ssize_t)n), *stats = PyList_New((Py_ssize_t)n), *out = NULL;
    if (names == NULL || stats == NULL) goto done;
    for (size_t i = 0; i < n; i++) {
        PyObject *nm = PyBytes_FromStringAndSize(items[i].name, (Py_ssize_t)items[i].len);
        if (nm == NULL) goto done;
        PyList_SET_ITEM(names, (Py_ssize_t)i, nm);
        PyObject *s = items[i].err ? PyLong_FromLong(items[i].err) : make_stat(&items[i]);
        if (s == NULL) goto done;
        PyList_SET_ITEM(stats, (Py_ssize_t)i, s);
    }
    out = PyTuple_Pack(2, names, stats);
done:
    Py_XDECREF(names);
    Py_XDECREF(stats);
    free(items);
    free(pool);
    return out;
}

static PyMethodDef module_methods[] = {
    {"listdir", (PyCFunction)walk_listdir, METH_VARARGS,
     "listdir(path, xattrs): errno, or (names sorted, per name a Stat or its lstat errno), with the "
     "GIL released"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT, "drkit.native._walk",
    "One directory of a backup walk listed and lstat'ed in C, with the GIL released.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__walk(void) {
    PyObject *m = PyModule_Create(&walk_module);
    if (m == NULL) return NULL;
    StatType = PyStructSequence_NewType(&stat_desc);
    if (StatType == NULL || PyModule_AddObjectRef(m, "Stat", (PyObject *)StatType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
