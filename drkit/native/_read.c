/* Reading a batch of small files with the GIL released (drkit.native._read).
 *
 * The backup walk hands the paths of small files (one chunk each) to a sealing thread, which reads
 * them all here in one call: open, read to the end, close, for every file, while other threads
 * (the walk) run Python. The pure-Python equivalent is drkit.repo.engine.smallfiles.read_files_py;
 * both give the same results (tests/unit/repo/test_backup_native_read.py).
 *
 *   read_files(paths: list[bytes], sizes: list[int]) -> list[bytes | tuple[int, int]]
 *
 * For each path (opened with O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC; on EPERM or EACCES
 * again without O_NOATIME, which only the file's owner may use): its whole content as read, whatever
 * ``sizes`` (the lstat sizes: the first read asks for one byte more) said; or (stage, errno) when it
 * could not be read: stage 0 the open failed, stage 1 a read failed (the file was opened).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef O_NOATIME
#define O_NOATIME 0
#endif

#define FIRST_READ_MAX (4 * 1024 * 1024) /* a size hint above this is not trusted for one buffer */
#define MORE_READ (1024 * 1024)

typedef struct {
    const char *path;   /* borrowed from the bytes object kept alive by `paths` (a tuple copy) */
    PyObject *buf;      /* bytes of hint + 1, filled without the GIL; NULL after a failure */
    Py_ssize_t cap;     /* its size */
    Py_ssize_t got;     /* bytes read into it */
    char *more;         /* malloc'd: what did not fit into buf (a file that grew) */
    Py_ssize_t more_len;
    int stage;          /* -1 ok, 0 open failed, 1 read failed, 2 out of memory */
    int err;
} item_t;

static int open_file(const char *path) {
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
    int fd;
    do {
        fd = open(path, flags | O_NOATIME);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0 && O_NOATIME != 0 && (errno == EPERM || errno == EACCES)) {
        do {
            fd = open(path, flags);
        } while (fd < 0 && errno == EINTR);
    }
    return fd;
}

static ssize_t read_some(int fd, char *into, size_t n) {
    ssize_t r;
    do {
        r = read(fd, into, n);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* Without the GIL: read one file into it->buf (and it->more past its end). */
static void read_one(item_t *it) {
    int fd = open_file(it->path);
    if (fd < 0) {
        it->stage = 0;
        it->err = errno;
        return;
    }
    char *base = PyBytes_AS_STRING(it->buf); /* no Python call: a fixed offset into the object */
    for (;;) {
        if (it->got < it->cap) {
            ssize_t r = read_some(fd, base + it->got, (size_t)(it->cap - it->got));
            if (r < 0) {
                it->stage = 1;
                it->err = errno;
                break;
            }
            if (r == 0)
                break;
            it->got += r;
            continue;
        }
        /* the file is larger than lstat said: the rest goes to a growing heap buffer */
        char *grown = realloc(it->more, (size_t)(it->more_len + MORE_READ));
        if (grown == NULL) {
            it->stage = 2;
            it->err = ENOMEM;
            break;
        }
        it->more = grown;
        ssize_t r = read_some(fd, it->more + it->more_len, MORE_READ);
        if (r < 0) {
            it->stage = 1;
            it->err = errno;
            break;
        }
        if (r == 0)
            break;
        it->more_len += r;
    }
    close(fd);
}

static PyObject *result_of(item_t *it) {
    if (it->stage == 2)
        return PyErr_NoMemory();
    if (it->stage >= 0)
        return Py_BuildValue("(ii)", it->stage, it->err);
    if (it->more_len == 0) {
        PyObject *b = it->buf;
        it->buf = NULL;
        if (it->got != it->cap && _PyBytes_Resize(&b, it->got) < 0)
            return NULL;
        return b;
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, it->got + it->more_len);
    if (b == NULL)
        return NULL;
    memcpy(PyBytes_AS_STRING(b), PyBytes_AS_STRING(it->buf), (size_t)it->got);
    memcpy(PyBytes_AS_STRING(b) + it->got, it->more, (size_t)it->more_len);
    return b;
}

static PyObject *read_files(PyObject *self, PyObject *args) {
    PyObject *paths_arg, *sizes_arg;
    if (!PyArg_ParseTuple(args, "OO:read_files", &paths_arg, &sizes_arg))
        return NULL;
    /* tuples: the walk cannot change them under us while the GIL is released */
    PyObject *paths = PySequence_Tuple(paths_arg);
    if (paths == NULL)
        return NULL;
    PyObject *sizes = PySequence_Tuple(sizes_arg);
    if (sizes == NULL) {
        Py_DECREF(paths);
        return NULL;
    }
    PyObject *out = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(paths);
    item_t *items = NULL;
    if (PyTuple_GET_SIZE(sizes) != n) {
        PyErr_SetString(PyExc_ValueError, "read_files: paths and sizes differ in length");
        goto done;
    }
    items = PyMem_Calloc((size_t)(n ? n : 1), sizeof(item_t));
    if (items == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyTuple_GET_ITEM(paths, i);
        if (!PyBytes_Check(p)) {
            PyErr_Format(PyExc_TypeError, "read_files: path %zd is not bytes", i);
            goto done;
        }
        if ((Py_ssize_t)strlen(PyBytes_AS_STRING(p)) != PyBytes_GET_SIZE(p)) {
            PyErr_Format(PyExc_ValueError, "read_files: path %zd holds a NUL byte", i);
            goto done;
        }
        Py_ssize_t hint = PyLong_AsSsize_t(PyTuple_GET_ITEM(sizes, i));
        if (hint == -1 && PyErr_Occurred())
            goto done;
        if (hint < 0 || hint >= FIRST_READ_MAX)
            hint = FIRST_READ_MAX - 1;
        items[i].path = PyBytes_AS_STRING(p);
        items[i].cap = hint + 1;
        items[i].stage = -1;
        items[i].buf = PyBytes_FromStringAndSize(NULL, items[i].cap);
        if (items[i].buf == NULL)
            goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        read_one(&items[i]);
    Py_END_ALLOW_THREADS
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = result_of(&items[i]);
        if (r == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, r);
    }
done:
    if (items != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_XDECREF(items[i].buf);
            free(items[i].more);
        }
        PyMem_Free(items);
    }
    Py_DECREF(paths);
    Py_DECREF(sizes);
    return out;
}

static PyMethodDef methods[] = {
    {"read_files", read_files, METH_VARARGS,
     "read_files(paths, sizes) -> list of bytes or (stage, errno): small files read whole, the GIL "
     "released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_read", "Small files read in batches with the GIL released.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__read(void) { return PyModule_Create(&module); }
