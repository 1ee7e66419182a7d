/* drkit.native._scan: one directory of an incremental backup compared with its parent tree, in C.
 *
 * ``Scanner.scan(path, tree)`` lists the directory (open/getdents64), sorts the names
 * bytewise, ``fstatat(AT_SYMLINK_NOFOLLOW)``s every entry and compares each with the entry of the same
 * name in ``tree`` (the parent snapshot's tree of that directory, version 2 plaintext: docs/format.md
 * "Trees"), all with the GIL released. It decides only what it can decide with certainty, exactly as
 * ``TreeBackup._reuse_file`` would: a regular file whose parent entry can stand for it as stored. A
 * subdirectory is reported with its lstat fields and whether its own metadata equals its parent
 * entry's. Everything else (new names, changed files, symlinks, special files, hard links, stat
 * errors, owners or devices it does not know yet) is left to the Python walk, entry by entry.
 *
 * Owner names and the device renumbering are Python's: the walk tells the scanner each uid/gid name
 * it looked up (``set_user``/``set_group``) and each device pair it mapped (``map_device``). A scan
 * that meets an owner it was not told about returns the ids to look up (the walk tells it and scans
 * again); a device not mapped yet leaves that file to Python (which maps it).
 *
 * Results of ``scan``:
 *   (0,)                          use the Python walk for this directory (tree not version 2, tree
 *                                 malformed or unsorted, directory not listable, ...)
 *   (1, uids, gids)               owners to look up first
 *   (2, names, special, keys, reused, reused_bytes, sparse, parent_entries, kept)
 *       names: the entries' names (bytes), sorted; special: [(pos, dir, old)] for every entry that is
 *       not a reused file, in order: dir None (Python decides) or, for a directory, (mode, uid, gid,
 *       mtime_ns, meta_same, parent_subtree or None); old: the index of the parent entry of that
 *       name, -1 if none; keys: (data_type, chunk id) of every reused file's chunks;
 *       reused/reused_bytes/sparse: count, bytes and sparse files among the reused; parent_entries:
 *       entries in the parent tree; kept: a bytearray, one byte per parent entry, 1 for the reused.
 *
 * ``splice(parent, keep, new)`` encodes a changed directory's tree without decoding the entries it
 * keeps from its parent tree: the parent's entries whose byte in ``keep`` is set and the entries of
 * ``new`` (a version 2 tree of the entries made anew, b"" for none), merged by name, the owner names'
 * table rebuilt in order of first use: the bytes ``encode_tree`` would give for the same entries.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ID_SIZE 32
#define HEAD_SIZE 12
#define FIXED_PER_ENTRY 72

/* -- owner and device tables (read by scans with the GIL released: guarded by a rwlock) ---------- */

typedef struct {
    uint32_t id;
    int has_name;
    char *name;
    Py_ssize_t len;
} Owner;

typedef struct {
    Owner *items;
    Py_ssize_t n, cap;
} Owners;

typedef struct {
    uint64_t old, new_;
} DevPair;

typedef struct {
    PyObject_HEAD
    int64_t changed_before_ns;
    int strict_device;
    int xattrs;
    PyObject *data_type;
    Owners users, groups;
    DevPair *devs;
    Py_ssize_t ndevs, capdevs;
    pthread_rwlock_t lock;
} Scanner;

static const Owner *owner_find(const Owners *o, uint32_t id) {
    for (Py_ssize_t i = 0; i < o->n; i++)
        if (o->items[i].id == id) return &o->items[i];
    return NULL;
}

static int owner_set(Owners *o, uint32_t id, PyObject *name) {
    char *copy = NULL;
    Py_ssize_t len = 0;
    if (name != Py_None) {
        char *buf;
        if (PyBytes_AsStringAndSize(name, &buf, &len) < 0) return -1;
        copy = PyMem_RawMalloc(len ? (size_t)len : 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, buf, (size_t)len);
    }
    Owner *existing = (Owner *)owner_find(o, id);
    if (existing != NULL) {
        PyMem_RawFree(existing->name);
        existing->has_name = name != Py_None;
        existing->name = copy;
        existing->len = len;
        return 0;
    }
    if (o->n == o->cap) {
        Py_ssize_t cap = o->cap ? o->cap * 2 : 8;
        Owner *items = PyMem_RawRealloc(o->items, (size_t)cap * sizeof(Owner));
        if (items == NULL) {
            PyMem_RawFree(copy);
            PyErr_NoMemory();
            return -1;
        }
        o->items = items;
        o->cap = cap;
    }
    o->items[o->n++] = (Owner){id, name != Py_None, copy, len};
    return 0;
}

static void owners_free(Owners *o) {
    for (Py_ssize_t i = 0; i < o->n; i++) PyMem_RawFree(o->items[i].name);
    PyMem_RawFree(o->items);
    o->items = NULL;
    o->n = o->cap = 0;
}

/* -- the parent tree (version 2), parsed and checked as drkit.repo.format.tree._read_v2 does ------- */

typedef struct {
    const unsigned char *d;
    uint64_t n, ns;
    const unsigned char *types, *flags, *modes, *uids, *gids, *urefs, *grefs, *mtimes, *sizes,
        *inodes, *devices, *links, *nlens, *idcounts, *tlens, *xcounts;
    uint64_t *name_off;  /* per entry: offset of its name */
    uint64_t *id_off;    /* per entry: offset of its first id */
    uint64_t *t_off;     /* per entry: offset of its target */
    uint64_t *x_off;     /* per entry and one past the last: offset of its first xattr record */
    uint64_t *str_off;   /* per string (0-based): offset */
    uint32_t *str_len;
} Tree;

static inline uint16_t u16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline int64_t i64(const unsigned char *p) { int64_t v; memcpy(&v, p, 8); return v; }

static int bytes_cmp(const unsigned char *a, uint64_t alen, const unsigned char *b, uint64_t blen) {
    uint64_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, (size_t)m) : 0;
    if (c) return c;
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static void tree_free(Tree *t) {
    free(t->name_off);
    free(t->id_off);
    free(t->t_off);
    free(t->x_off);
    free(t->str_off);
    free(t->str_len);
    t->name_off = t->id_off = t->t_off = t->x_off = t->str_off = NULL;
    t->str_len = NULL;
}

/* 0: parsed, valid and strictly sorted by name; -1: anything else (the Python walk decides). No GIL. */
static int tree_parse(Tree *t, const unsigned char *d, uint64_t len) {
    memset(t, 0, sizeof(*t));
    if (len < HEAD_SIZE || memcmp(d, "DRT\x02", 4) != 0) return -1;
    uint64_t n = u32(d + 4), ns = u32(d + 8);
    uint64_t pos = HEAD_SIZE + FIXED_PER_ENTRY * n;
    if (pos > len || 4 * ns > len - pos) return -1;
    t->d = d;
    t->n = n;
    t->ns = ns;
    const unsigned char *c = d + HEAD_SIZE;
    t->types = c; c += n;
    t->flags = c; c += n;
    t->modes = c; c += 2 * n;
    t->uids = c; c += 4 * n;
    t->gids = c; c += 4 * n;
    t->urefs = c; c += 4 * n;
    t->grefs = c; c += 4 * n;
    t->mtimes = c; c += 8 * n;
    t->sizes = c; c += 8 * n;
    t->inodes = c; c += 8 * n;
    t->devices = c; c += 8 * n;
    t->links = c; c += 4 * n;
    t->nlens = c; c += 4 * n;
    t->idcounts = c; c += 4 * n;
    t->tlens = c; c += 4 * n;
    t->xcounts = c;
    const unsigned char *slens = d + pos;
    pos += 4 * ns;
    /* the variable parts must fit (as Python's sum check: no overflow with u32 parts and n < 2^32) */
    uint64_t need = 0;
    for (uint64_t i = 0; i < ns; i++) need += u32(slens + 4 * i);
    for (uint64_t i = 0; i < n; i++)
        need += (uint64_t)u32(t->nlens + 4 * i) + ID_SIZE * (uint64_t)u32(t->idcounts + 4 * i) +
                u32(t->tlens + 4 * i);
    if (need > len - pos) return -1;
    t->name_off = malloc((n ? n : 1) * sizeof(uint64_t));
    t->id_off = malloc((n ? n : 1) * sizeof(uint64_t));
    t->t_off = malloc((n ? n : 1) * sizeof(uint64_t));
    t->x_off = malloc((n + 1) * sizeof(uint64_t));
    t->str_off = malloc((ns ? ns : 1) * sizeof(uint64_t));
    t->str_len = malloc((ns ? ns : 1) * sizeof(uint32_t));
    if (!t->name_off || !t->id_off || !t->t_off || !t->x_off || !t->str_off || !t->str_len) goto bad;
    for (uint64_t i = 0; i < ns; i++) {
        t->str_off[i] = pos;
        t->str_len[i] = u32(slens + 4 * i);
        pos += t->str_len[i];
    }
    for (uint64_t i = 0; i < n; i++) {
        t->name_off[i] = pos;
        pos += u32(t->nlens + 4 * i);
    }
    for (uint64_t i = 0; i < n; i++) {
        t->id_off[i] = pos;
        pos += ID_SIZE * (uint64_t)u32(t->idcounts + 4 * i);
    }
    for (uint64_t i = 0; i < n; i++) {
        t->t_off[i] = pos;
        pos += u32(t->tlens + 4 * i);
    }
    /* fixed fields and the rules for each type */
    for (uint64_t i = 0; i < n; i++) {
        unsigned type = t->types[i], flag = t->flags[i];
        if (type > 2 || flag > 1 || u16(t->modes + 2 * i) > 07777) goto bad;
        if (u32(t->urefs + 4 * i) > ns || u32(t->grefs + 4 * i) > ns) goto bad;
        uint32_t idc = u32(t->idcounts + 4 * i), tl = u32(t->tlens + 4 * i);
        if (type == 0) {
            if (tl) goto bad;
        } else {
            if (idc != (type == 1 ? 1u : 0u) || (tl && type == 1)) goto bad;
            if (u64(t->sizes + 8 * i) || u64(t->inodes + 8 * i) || u64(t->devices + 8 * i) ||
                u32(t->links + 4 * i) || flag)
                goto bad;
        }
    }
    /* xattr records: lengths in bounds, names non-empty and strictly ascending */
    for (uint64_t i = 0; i < n; i++) {
        uint32_t count = u32(t->xcounts + 4 * i);
        t->x_off[i] = pos;
        const unsigned char *prev = NULL;
        uint64_t prevlen = 0;
        for (uint32_t k = 0; k < count; k++) {
            if (len - pos < 4) goto bad;
            uint64_t kl = u32(d + pos);
            if (len - pos - 4 < kl) goto bad;
            const unsigned char *key = d + pos + 4;
            pos += 4 + kl;
            if (len - pos < 4) goto bad;
            uint64_t vl = u32(d + pos);
            if (len - pos - 4 < vl) goto bad;
            pos += 4 + vl;
            if (kl == 0 || (prev != NULL && bytes_cmp(key, kl, prev, prevlen) <= 0)) goto bad;
            prev = key;
            prevlen = kl;
        }
    }
    t->x_off[n] = pos;
    if (pos != len) goto bad;
    /* names strictly ascending (so also unique): what the merge with the listing relies on */
    for (uint64_t i = 1; i < n; i++) {
        if (bytes_cmp(d + t->name_off[i - 1], u32(t->nlens + 4 * (i - 1)), d + t->name_off[i],
                      u32(t->nlens + 4 * i)) >= 0)
            goto bad;
    }
    return 0;
bad:
    tree_free(t);
    return -1;
}

/* -- one directory ------------------------------------------------------------------------------- */

enum { K_FILE = 1, K_DIR = 2, K_PY = 3 };

typedef struct {
    uint64_t name_off;  /* in the names buffer */
    size_t name_len;
    int stat_ok;
    struct stat st;
    int64_t mtime_ns, ctime_ns;
    int64_t old;        /* index in the parent tree, or -1 */
    int kind;           /* K_FILE: reused as stored; K_DIR: a directory; K_PY: Python decides */
    int meta_same;      /* K_DIR: its own metadata equals its parent entry's (xattrs none on both) */
    int sparse;
} Item;

typedef struct {
    char *names;
    size_t names_len, names_cap;
    Item *items;
    size_t n, cap;
    uint32_t *unknown_uids, *unknown_gids;
    size_t nuu, nug;
} Listing;

static void listing_free(Listing *l) {
    free(l->names);
    free(l->items);
    free(l->unknown_uids);
    free(l->unknown_gids);
    memset(l, 0, sizeof(*l));
}

static int item_cmp(const void *a, const void *b, void *base) {
    const Item *x = a, *y = b;
    return strcmp((const char *)base + x->name_off, (const char *)base + y->name_off);
}

static int add_unknown(uint32_t **arr, size_t *n, uint32_t id) {
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i] == id) return 0;
    uint32_t *a = realloc(*arr, (*n + 1) * sizeof(uint32_t));
    if (a == NULL) return -1;
    a[(*n)++] = id;
    *arr = a;
    return 0;
}

static int ns_of(int64_t sec, long nsec, int64_t *out) {
    int64_t v;
    if (__builtin_mul_overflow(sec, (int64_t)1000000000, &v)) return -1;
    if (__builtin_add_overflow(v, (int64_t)nsec, &v)) return -1;
    *out = v;
    return 0;
}

/* 1: the owner is known and its name equals the parent entry's; 0: it differs; -1: not known */
static int owner_same(const Owners *o, uint32_t id, uint32_t ref, const Tree *t) {
    const Owner *w = owner_find(o, id);
    if (w == NULL) return -1;
    if (!w->has_name) return ref == 0;
    if (ref == 0) return 0;
    uint64_t off = t->str_off[ref - 1];
    uint32_t len = t->str_len[ref - 1];
    return (Py_ssize_t)len == w->len && memcmp(t->d + off, w->name, len) == 0;
}

static int dev_mapped_to_itself(const Scanner *s, uint64_t dev) {
    for (Py_ssize_t i = 0; i < s->ndevs; i++)
        if (s->devs[i].old == dev) return s->devs[i].new_ == dev;
    return 0; /* not mapped yet: Python maps it */
}

/* Whether a directory's extended attributes are certainly none (as fsmeta.read_xattrs reads them:
 * none, or a filesystem without support, or not permitted). Anything else: Python reads them. */
static int xattrs_none(const char *dir, size_t dirlen, const char *name, size_t namelen) {
    char stackbuf[4096];
    size_t need = dirlen + 1 + namelen + 1;
    char *full = need <= sizeof(stackbuf) ? stackbuf : malloc(need);
    if (full == NULL) return 0;
    memcpy(full, dir, dirlen);
    size_t p = dirlen;
    if (p == 0 || full[p - 1] != '/') full[p++] = '/';
    memcpy(full + p, name, namelen);
    full[p + namelen] = 0;
    ssize_t r = llistxattr(full, NULL, 0);
    int e = errno;
    if (full != stackbuf) free(full);
    if (r == 0) return 1;
    if (r < 0 && (e == ENOTSUP || e == EOPNOTSUPP || e == ENODATA || e == EPERM || e == EACCES)) return 1;
    return 0;
}

/* One record of getdents64 (linux/dirent.h, not in glibc's headers before 2.30). */
struct dirent64_rec {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

#define LIST_BUFFER 32768

/* The next name of the directory ``fd`` (getdents64 straight into ``buf``: no DIR stream, so no
 * fstat and fcntl of fdopendir and no allocation per directory). NULL at the end, or with errno set
 * on an error. ``*pos``/``*got``: the place in ``buf`` and the bytes in it. */
static const char *next_name(int fd, char *buf, long *pos, long *got) {
    for (;;) {
        if (*pos >= *got) {
            long n;
            do {
                n = syscall(SYS_getdents64, fd, buf, LIST_BUFFER);
            } while (n < 0 && errno == EINTR);
            if (n <= 0) {
                if (n == 0) errno = 0;
                return NULL;
            }
            *got = n;
            *pos = 0;
        }
        const struct dirent64_rec *d = (const struct dirent64_rec *)(buf + *pos);
        long rest = *got - *pos;
        if (rest < (long)offsetof(struct dirent64_rec, d_name) + 1 || d->d_reclen == 0 || d->d_reclen > rest ||
            memchr(d->d_name, 0, (size_t)(d->d_reclen - offsetof(struct dirent64_rec, d_name))) == NULL) {
            errno = EIO; /* never from a kernel: refuse rather than read past the record */
            return NULL;
        }
        *pos += d->d_reclen;
        return d->d_name;
    }
}

/* List, sort and stat; compare with the tree. No GIL. 0: done; 1: owners to look up; -1: Python. */
static int scan_dir(const Scanner *s, const char *path, size_t pathlen, const Tree *t, Listing *l) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    char *buf = malloc(LIST_BUFFER);
    if (buf == NULL) goto fail;
    long pos = 0, got = 0;
    for (;;) {
        const char *nm = next_name(fd, buf, &pos, &got);
        if (nm == NULL) {
            if (errno) goto fail;
            break;
        }
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
        size_t nl = strlen(nm);
        if (l->names_len + nl + 1 > l->names_cap) {
            size_t cap = l->names_cap ? l->names_cap * 2 : 4096;
            while (cap < l->names_len + nl + 1) cap *= 2;
            char *b = realloc(l->names, cap);
            if (b == NULL) goto fail;
            l->names = b;
            l->names_cap = cap;
        }
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            Item *items = realloc(l->items, cap * sizeof(Item));
            if (items == NULL) goto fail;
            l->items = items;
            l->cap = cap;
        }
        memcpy(l->names + l->names_len, nm, nl + 1);
        Item *it = &l->items[l->n++];
        memset(it, 0, sizeof(*it));
        it->name_off = l->names_len;
        it->name_len = nl;
        it->old = -1;
        it->kind = K_PY;
        l->names_len += nl + 1;
    }
    free(buf);
    buf = NULL;
    if (l->n > 1) qsort_r(l->items, l->n, sizeof(Item), item_cmp, l->names);
    for (size_t i = 0; i < l->n; i++) {
        Item *it = &l->items[i];
        if (fstatat(fd, l->names + it->name_off, &it->st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (ns_of(it->st.st_mtim.tv_sec, it->st.st_mtim.tv_nsec, &it->mtime_ns) != 0) continue;
        if (ns_of(it->st.st_ctim.tv_sec, it->st.st_ctim.tv_nsec, &it->ctime_ns) != 0) continue;
        it->stat_ok = 1;
        mode_t m = it->st.st_mode;
        if (S_ISREG(m) || S_ISDIR(m)) {
            if (owner_find(&s->users, (uint32_t)it->st.st_uid) == NULL &&
                add_unknown(&l->unknown_uids, &l->nuu, (uint32_t)it->st.st_uid) != 0)
                goto fail;
            if (owner_find(&s->groups, (uint32_t)it->st.st_gid) == NULL &&
                add_unknown(&l->unknown_gids, &l->nug, (uint32_t)it->st.st_gid) != 0)
                goto fail;
        }
    }
    close(fd);
    fd = -1;
    if (l->nuu || l->nug) return 1;
    /* merge with the parent tree (both sorted bytewise; names hold no NUL) */
    uint64_t j = 0;
    for (size_t i = 0; i < l->n; i++) {
        Item *it = &l->items[i];
        const unsigned char *nm = (const unsigned char *)l->names + it->name_off;
        int c = 1;
        while (j < t->n &&
               (c = bytes_cmp(t->d + t->name_off[j], u32(t->nlens + 4 * j), nm, it->name_len)) < 0)
            j++;
        if (j < t->n && c == 0) it->old = (int64_t)j;
        if (!it->stat_ok) continue;
        const struct stat *st = &it->st;
        uint64_t o = (uint64_t)it->old;
        if (S_ISDIR(st->st_mode)) {
            it->kind = K_DIR;
            it->meta_same =
                it->old >= 0 && t->types[o] == 1 && i64(t->mtimes + 8 * o) == it->mtime_ns &&
                u16(t->modes + 2 * o) == (st->st_mode & 07777) &&
                u32(t->uids + 4 * o) == (uint32_t)st->st_uid &&
                u32(t->gids + 4 * o) == (uint32_t)st->st_gid &&
                owner_same(&s->users, (uint32_t)st->st_uid, u32(t->urefs + 4 * o), t) == 1 &&
                owner_same(&s->groups, (uint32_t)st->st_gid, u32(t->grefs + 4 * o), t) == 1 &&
                u32(t->xcounts + 4 * o) == 0 &&
                (!s->xattrs || xattrs_none(path, pathlen, (const char *)nm, it->name_len));
            continue;
        }
        if (!S_ISREG(st->st_mode) || it->old < 0) continue;
        __int128 blocks = (__int128)st->st_blocks * 512;
        it->sparse = blocks < (__int128)st->st_size;
        if (t->types[o] == 0 && st->st_size >= 0 && u64(t->sizes + 8 * o) == (uint64_t)st->st_size &&
            it->ctime_ns < s->changed_before_ns && u64(t->inodes + 8 * o) == (uint64_t)st->st_ino &&
            u64(t->devices + 8 * o) == (uint64_t)st->st_dev && (int)t->flags[o] == it->sparse &&
            u32(t->links + 4 * o) == 0 && st->st_nlink <= 1 && i64(t->mtimes + 8 * o) == it->mtime_ns &&
            u16(t->modes + 2 * o) == (st->st_mode & 07777) &&
            u32(t->uids + 4 * o) == (uint32_t)st->st_uid &&
            u32(t->gids + 4 * o) == (uint32_t)st->st_gid &&
            owner_same(&s->users, (uint32_t)st->st_uid, u32(t->urefs + 4 * o), t) == 1 &&
            owner_same(&s->groups, (uint32_t)st->st_gid, u32(t->grefs + 4 * o), t) == 1 &&
            (s->xattrs || u32(t->xcounts + 4 * o) == 0) &&
            (s->strict_device || dev_mapped_to_itself(s, (uint64_t)st->st_dev)))
            it->kind = K_FILE;
    }
    return 0;
fail:
    free(buf);
    if (fd >= 0) close(fd);
    return -1;
}

/* -- Python ------------------------------------------------------------------------------------- */

static PyObject *ids_list(const uint32_t *ids, size_t n) {
    PyObject *out = PyList_New((Py_ssize_t)n);
    if (out == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(ids[i]);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    return out;
}

static PyObject *build_result(const Scanner *s, const Tree *t, const Listing *l) {
    PyObject *names = NULL, *special = NULL, *keys = NULL, *kept = NULL, *v = NULL;
    long long reused = 0, sparse = 0;
    unsigned long long reused_bytes = 0;
    names = PyList_New((Py_ssize_t)l->n);
    special = PyList_New(0);
    keys = PyList_New(0);
    kept = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)t->n);
    if (names == NULL || special == NULL || keys == NULL || kept == NULL) goto error;
    if (t->n) memset(PyByteArray_AS_STRING(kept), 0, (size_t)t->n);
    for (size_t i = 0; i < l->n; i++) {
        const Item *it = &l->items[i];
        PyObject *nm = PyBytes_FromStringAndSize(l->names + it->name_off, (Py_ssize_t)it->name_len);
        if (nm == NULL) goto error;
        PyList_SET_ITEM(names, (Py_ssize_t)i, nm);
        if (it->kind == K_FILE) {
            uint64_t o = (uint64_t)it->old;
            uint32_t count = u32(t->idcounts + 4 * o);
            const char *ids = (const char *)t->d + t->id_off[o];
            for (uint32_t k = 0; k < count; k++) {
                PyObject *id = PyBytes_FromStringAndSize(ids + (size_t)k * ID_SIZE, ID_SIZE);
                if (id == NULL) goto error;
                PyObject *key = PyTuple_Pack(2, s->data_type, id);
                Py_DECREF(id);
                if (key == NULL) goto error;
                int r = PyList_Append(keys, key);
                Py_DECREF(key);
                if (r < 0) goto error;
            }
            PyByteArray_AS_STRING(kept)[o] = 1;
            reused++;
            reused_bytes += (unsigned long long)it->st.st_size;
            sparse += it->sparse;
            continue;
        }
        PyObject *entry;
        if (it->kind == K_DIR) {
            PyObject *sub;
            if (it->old >= 0 && t->types[it->old] == 1) {
                sub = PyBytes_FromStringAndSize((const char *)t->d + t->id_off[it->old], ID_SIZE);
                if (sub == NULL) goto error;
            } else {
                sub = Py_NewRef(Py_None);
            }
            entry = Py_BuildValue("(n(IIILON)L)", (Py_ssize_t)i, (unsigned)(it->st.st_mode & 07777),
                                  (unsigned)it->st.st_uid, (unsigned)it->st.st_gid,
                                  (long long)it->mtime_ns, it->meta_same ? Py_True : Py_False, sub,
                                  (long long)it->old);
        } else {
            entry = Py_BuildValue("(nOL)", (Py_ssize_t)i, Py_None, (long long)it->old);
        }
        if (entry == NULL) goto error;
        int r = PyList_Append(special, entry);
        Py_DECREF(entry);
        if (r < 0) goto error;
    }
    v = Py_BuildValue("(iNNNLKLKN)", 2, names, special, keys, reused, reused_bytes, sparse,
                      (unsigned long long)t->n, kept);
    return v;
error:
    Py_XDECREF(names);
    Py_XDECREF(special);
    Py_XDECREF(keys);
    Py_XDECREF(kept);
    return NULL;
}

/* Parse the tree and scan the directory. No GIL. */
static int run_scan(Scanner *self, const char *path, size_t pathlen, const void *buf, Py_ssize_t len,
                    Tree *t, Listing *l) {
    memset(l, 0, sizeof(*l));
    if (tree_parse(t, buf, (uint64_t)len) != 0) return -1;
    pthread_rwlock_rdlock(&self->lock);
    int rc = scan_dir(self, path, pathlen, t, l);
    pthread_rwlock_unlock(&self->lock);
    return rc;
}

/* The Python result of ``run_scan``; frees the tree and the listing. GIL held. */
static PyObject *scan_result(Scanner *self, int rc, Tree *t, Listing *l) {
    PyObject *out;
    if (rc < 0) {
        out = Py_BuildValue("(i)", 0);
    } else if (rc == 1) {
        out = Py_BuildValue("(iNN)", 1, ids_list(l->unknown_uids, l->nuu), ids_list(l->unknown_gids, l->nug));
    } else {
        out = build_result(self, t, l);
    }
    tree_free(t);
    listing_free(l);
    return out;
}

static int check_path(const char *path, Py_ssize_t pathlen) {
    if (memchr(path, 0, (size_t)pathlen) != NULL) {
        PyErr_SetString(PyExc_ValueError, "path contains a NUL byte");
        return -1;
    }
    return 0;
}

static PyObject *Scanner_scan(Scanner *self, PyObject *args) {
    const char *path;
    Py_ssize_t pathlen;
    Py_buffer tree;
    if (!PyArg_ParseTuple(args, "y#y*:scan", &path, &pathlen, &tree)) return NULL;
    if (check_path(path, pathlen) < 0) {
        PyBuffer_Release(&tree);
        return NULL;
    }
    Tree t;
    Listing l;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = run_scan(self, path, (size_t)pathlen, tree.buf, tree.len, &t, &l);
    Py_END_ALLOW_THREADS
    PyObject *out = scan_result(self, rc, &t, &l);
    PyBuffer_Release(&tree);
    return out;
}

/* -- a changed directory's tree: the parent's entries kept and the new ones, as one -------------- */

typedef struct {
    const Tree *t;
    uint64_t i;
} Src;

/* Owner names in one output tree beyond this: None (the Python encoder does it; a real directory
 * has a handful, and the lookup below is linear). */
#define SPLICE_STRINGS 64

/* The index (0-based) of the string (p, len) in the output table, added if new; -1: table full. */
static int64_t string_ref(const unsigned char **sp, uint32_t *sl, uint64_t *ns, const unsigned char *p,
                          uint32_t len) {
    for (uint64_t k = 0; k < *ns; k++)
        if (sl[k] == len && memcmp(sp[k], p, len) == 0) return (int64_t)k;
    if (*ns == SPLICE_STRINGS) return -1;
    sp[*ns] = p;
    sl[*ns] = len;
    return (int64_t)(*ns)++;
}

#define COPY_COLUMN(field, width)                                              \
    for (uint64_t k = 0; k < n; k++) {                                         \
        memcpy(w, order[k].t->field + (width) * order[k].i, (width));          \
        w += (width);                                                          \
    }

static PyObject *tree_splice(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer pb, mb, nb;
    if (!PyArg_ParseTuple(args, "y*y*y*:splice", &pb, &mb, &nb)) return NULL;
    PyObject *out = NULL;
    Tree a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    Src *order = NULL;
    uint32_t *refs = NULL;
    const unsigned char *sp[SPLICE_STRINGS];
    uint32_t sl[SPLICE_STRINGS];
    uint64_t ns = 0;
    if (tree_parse(&a, pb.buf, (uint64_t)pb.len) != 0 ||
        (nb.len != 0 && tree_parse(&b, nb.buf, (uint64_t)nb.len) != 0))
        goto none;
    if ((uint64_t)mb.len != a.n) {
        PyErr_SetString(PyExc_ValueError, "the mask has one byte per entry of the parent tree");
        goto done;
    }
    const unsigned char *mask = mb.buf;
    uint64_t kept = 0;
    for (uint64_t i = 0; i < a.n; i++) kept += mask[i] != 0;
    uint64_t n = kept + b.n;
    if (n > 0xFFFFFFFFu) goto none;
    order = malloc((n ? n : 1) * sizeof(Src));
    refs = malloc((n ? 2 * n : 1) * sizeof(uint32_t));
    if (order == NULL || refs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* both sorted by name: merge; a name in both is refused */
    uint64_t i = 0, j = 0, k = 0;
    for (;;) {
        while (i < a.n && !mask[i]) i++;
        if (i == a.n && j == b.n) break;
        int take_a;
        if (i == a.n) {
            take_a = 0;
        } else if (j == b.n) {
            take_a = 1;
        } else {
            int c = bytes_cmp(a.d + a.name_off[i], u32(a.nlens + 4 * i), b.d + b.name_off[j],
                              u32(b.nlens + 4 * j));
            if (c == 0) goto none;
            take_a = c < 0;
        }
        order[k++] = take_a ? (Src){&a, i++} : (Src){&b, j++};
    }
    /* the owner names' table in order of first use (user, then group, entry by entry), as encoded */
    uint64_t total = HEAD_SIZE + FIXED_PER_ENTRY * n;
    for (k = 0; k < n; k++) {
        const Tree *t = order[k].t;
        uint64_t e = order[k].i;
        for (int g = 0; g < 2; g++) {
            uint32_t r = u32((g ? t->grefs : t->urefs) + 4 * e);
            uint32_t ref = 0;
            if (r) {
                int64_t at = string_ref(sp, sl, &ns, t->d + t->str_off[r - 1], t->str_len[r - 1]);
                if (at < 0) goto none;
                ref = (uint32_t)at + 1;
            }
            refs[2 * k + g] = ref;
        }
        total += (uint64_t)u32(t->nlens + 4 * e) + ID_SIZE * (uint64_t)u32(t->idcounts + 4 * e) +
                 u32(t->tlens + 4 * e) + (t->x_off[e + 1] - t->x_off[e]);
    }
    for (uint64_t s = 0; s < ns; s++) total += 4 + (uint64_t)sl[s];
    if (total > (uint64_t)PY_SSIZE_T_MAX) goto none;
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (out == NULL) goto done;
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out);
    uint32_t v32;
    memcpy(w, "DRT\x02", 4);
    v32 = (uint32_t)n;
    memcpy(w + 4, &v32, 4);
    v32 = (uint32_t)ns;
    memcpy(w + 8, &v32, 4);
    w += HEAD_SIZE;
    COPY_COLUMN(types, 1)
    COPY_COLUMN(flags, 1)
    COPY_COLUMN(modes, 2)
    COPY_COLUMN(uids, 4)
    COPY_COLUMN(gids, 4)
    for (int g = 0; g < 2; g++) {
        for (k = 0; k < n; k++) {
            memcpy(w, &refs[2 * k + g], 4);
            w += 4;
        }
    }
    COPY_COLUMN(mtimes, 8)
    COPY_COLUMN(sizes, 8)
    COPY_COLUMN(inodes, 8)
    COPY_COLUMN(devices, 8)
    COPY_COLUMN(links, 4)
    COPY_COLUMN(nlens, 4)
    COPY_COLUMN(idcounts, 4)
    COPY_COLUMN(tlens, 4)
    COPY_COLUMN(xcounts, 4)
    for (uint64_t s = 0; s < ns; s++) {
        memcpy(w, &sl[s], 4);
        w += 4;
    }
    for (uint64_t s = 0; s < ns; s++) {
        memcpy(w, sp[s], sl[s]);
        w += sl[s];
    }
    for (k = 0; k < n; k++) {
        const Tree *t = order[k].t;
        uint32_t len = u32(t->nlens + 4 * order[k].i);
        memcpy(w, t->d + t->name_off[order[k].i], len);
        w += len;
    }
    for (k = 0; k < n; k++) {
        const Tree *t = order[k].t;
        uint64_t len = ID_SIZE * (uint64_t)u32(t->idcounts + 4 * order[k].i);
        memcpy(w, t->d + t->id_off[order[k].i], len);
        w += len;
    }
    for (k = 0; k < n; k++) {
        const Tree *t = order[k].t;
        uint32_t len = u32(t->tlens + 4 * order[k].i);
        memcpy(w, t->d + t->t_off[order[k].i], len);
        w += len;
    }
    for (k = 0; k < n; k++) {
        const Tree *t = order[k].t;
        uint64_t e = order[k].i, len = t->x_off[e + 1] - t->x_off[e];
        memcpy(w, t->d + t->x_off[e], len);
        w += len;
    }
    if (w != (unsigned char *)PyBytes_AS_STRING(out) + total) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_SystemError, "splice: size mismatch");
    }
    goto done;
none:
    out = Py_NewRef(Py_None);
done:
    free(order);
    free(refs);
    tree_free(&a);
    tree_free(&b);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&nb);
    return out;
}

static PyObject *set_owner(Scanner *self, PyObject *args, int user) {
    unsigned long id;
    PyObject *name;
    if (!PyArg_ParseTuple(args, "kO:set_owner", &id, &name)) return NULL;
    if (id > 0xFFFFFFFFul) {
        PyErr_SetString(PyExc_OverflowError, "owner id above 2**32-1");
        return NULL;
    }
    if (name != Py_None && !PyBytes_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "an owner name is bytes or None");
        return NULL;
    }
    int r;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_wrlock(&self->lock);
    Py_END_ALLOW_THREADS
    r = owner_set(user ? &self->users : &self->groups, (uint32_t)id, name);
    pthread_rwlock_unlock(&self->lock);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Scanner_set_user(Scanner *self, PyObject *args) { return set_owner(self, args, 1); }
static PyObject *Scanner_set_group(Scanner *self, PyObject *args) { return set_owner(self, args, 0); }

static PyObject *Scanner_map_device(Scanner *self, PyObject *args) {
    unsigned long long old, new_;
    if (!PyArg_ParseTuple(args, "KK:map_device", &old, &new_)) return NULL;
    int fail = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_wrlock(&self->lock);
    int known = 0;
    for (Py_ssize_t i = 0; i < self->ndevs; i++) {
        if (self->devs[i].old == old) {
            self->devs[i].new_ = new_;
            known = 1;
        }
    }
    if (!known) {
        if (self->ndevs == self->capdevs) {
            Py_ssize_t cap = self->capdevs ? self->capdevs * 2 : 4;
            DevPair *d = realloc(self->devs, (size_t)cap * sizeof(DevPair));
            if (d == NULL) {
                fail = 1;
            } else {
                self->devs = d;
                self->capdevs = cap;
            }
        }
        if (!fail) self->devs[self->ndevs++] = (DevPair){old, new_};
    }
    pthread_rwlock_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (fail) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"changed_before_ns", "strict_device", "xattrs", "data_type", NULL};
    long long changed;
    int strict, xattrs;
    PyObject *data_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LppO:Scanner", kwlist, &changed, &strict, &xattrs,
                                     &data_type))
        return -1;
    self->changed_before_ns = changed;
    self->strict_device = strict;
    self->xattrs = xattrs;
    Py_XSETREF(self->data_type, Py_NewRef(data_type));
    return 0;
}

static PyObject *Scanner_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwds)) {
    Scanner *self = (Scanner *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    if (pthread_rwlock_init(&self->lock, NULL) != 0) {
        /* a failed init leaves the object unusable; never reached on Linux with default attributes */
        type->tp_free((PyObject *)self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void Scanner_dealloc(Scanner *self) {
    Py_XDECREF(self->data_type);
    owners_free(&self->users);
    owners_free(&self->groups);
    free(self->devs);
    pthread_rwlock_destroy(&self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS,
     "scan(path, tree): one directory compared with its parent tree (see the module's doc)"},
    {"set_user", (PyCFunction)Scanner_set_user, METH_VARARGS,
     "set_user(uid, name): the name (bytes, UTF-8 with surrogateescape) of uid, or None"},
    {"set_group", (PyCFunction)Scanner_set_group, METH_VARARGS,
     "set_group(gid, name): the name of gid, or None"},
    {"map_device", (PyCFunction)Scanner_map_device, METH_VARARGS,
     "map_device(old, new): the parent's device old is this walk's new"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "drkit.native._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compares directories with their parent trees (drkit.repo.engine.backup).",
    .tp_new = Scanner_new,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static PyMethodDef module_methods[] = {
    {"splice", (PyCFunction)tree_splice, METH_VARARGS,
     "splice(parent, keep, new): the version 2 tree of the parent tree's entries whose byte in keep "
     "is not zero and the entries of the version 2 tree new (b'': none), encoded as "
     "drkit.repo.format.tree.encode_tree encodes them; None when a tree is not valid, a name is in "
     "both, or the owner names are too many"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT, "drkit.native._scan",
    "One directory of an incremental backup compared with its parent tree, with the GIL released.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&scan_module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
