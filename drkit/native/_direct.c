/* A large object's parts written with O_DIRECT, the GIL released (drkit.native._direct).
 *
 * drkit.storage.directwrite gathers a pack's sealed blobs into one page-aligned buffer, a piece at
 * a time, and writes each piece directly. In Python the gathering is a slice assignment that holds
 * the GIL for every byte copied (a 16 MiB pack: 16 MiB of memcpy while the sealing threads wait to
 * get the GIL back); here the copies and the writes both run without it. The pure-Python path in
 * directwrite.write_parts gives the same file (tests/unit/storage/test_directwrite.py).
 *
 *   gather_pwrite(fd: int, parts: list[buffer], buf: writable buffer, whole: int) -> int
 *
 * Writes bytes [0, whole) of the concatenation of ``parts`` at offsets [0, whole) of ``fd``, in
 * pieces of len(buf) bytes (the last one shorter) copied into ``buf`` first. Returns how many bytes
 * were written: ``whole``, or fewer when a write fell short or the filesystem refused the direct
 * write (EINVAL); the caller writes the rest buffered. Any other failure raises OSError.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

static PyObject *gather_pwrite(PyObject *self, PyObject *args) {
    int fd;
    PyObject *parts_arg;
    Py_buffer buf;
    Py_ssize_t whole;
    if (!PyArg_ParseTuple(args, "iOw*n:gather_pwrite", &fd, &parts_arg, &buf, &whole))
        return NULL;
    PyObject *parts = PySequence_Tuple(parts_arg);
    if (parts == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(parts);
    Py_buffer *views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    Py_ssize_t held = 0; /* views acquired so far */
    PyObject *out = NULL;
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (; held < n; held++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(parts, held), &views[held], PyBUF_SIMPLE) < 0)
            goto done;
        total += views[held].len;
    }
    if (whole < 0 || whole > total) {
        PyErr_Format(PyExc_ValueError, "gather_pwrite: %zd bytes asked of parts holding %zd", whole, total);
        goto done;
    }
    if (buf.len <= 0) {
        PyErr_SetString(PyExc_ValueError, "gather_pwrite: an empty buffer");
        goto done;
    }
    Py_ssize_t offset = 0;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t i = 0, pos = 0; /* the next byte to gather: views[i].buf[pos] */
    while (offset < whole) {
        Py_ssize_t want = whole - offset < buf.len ? whole - offset : buf.len;
        Py_ssize_t got = 0;
        while (got < want) {
            Py_ssize_t take = views[i].len - pos;
            if (take > want - got)
                take = want - got;
            memcpy((char *)buf.buf + got, (const char *)views[i].buf + pos, (size_t)take);
            got += take;
            pos += take;
            if (pos == views[i].len) {
                i++;
                pos = 0;
            }
        }
        ssize_t written;
        do {
            written = pwrite(fd, buf.buf, (size_t)want, (off_t)offset);
        } while (written < 0 && errno == EINTR);
        if (written < 0) {
            if (errno != EINVAL)
                err = errno;
            break; /* EINVAL: the filesystem will not write it directly; buffered from here */
        }
        offset += written;
        if (written != want)
            break; /* a short write: the rest (perhaps unaligned now) buffered */
    }
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    out = PyLong_FromSsize_t(offset);
done:
    for (Py_ssize_t k = 0; k < held; k++)
        PyBuffer_Release(&views[k]);
    PyMem_Free(views);
    Py_DECREF(parts);
    PyBuffer_Release(&buf);
    return out;
}

static PyMethodDef methods[] = {
    {"gather_pwrite", gather_pwrite, METH_VARARGS,
     "gather_pwrite(fd, parts, buf, whole) -> bytes written: the parts' first `whole` bytes gathered "
     "into buf a piece at a time and written from offset 0, the GIL released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_direct", "A large object's parts written with O_DIRECT, the GIL released.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__direct(void) { return PyModule_Create(&module); }
