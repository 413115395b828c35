/* The ledger's hot path in C: a local root's open and close as one call each.

   Why C: in pure Python each of the two events reads and writes about 25 cells of the region through memoryviews
   (about 15,000 instructions each), and the critical section can lose the GIL half-way, so that the process's other
   threads queue on the host's semaphore behind a thread that is not running. Here the whole event runs in one call
   that holds the GIL while it holds the semaphore (it lets the GIL go only while waiting for the semaphore), never
   runs Python code while holding it, and is only the in-order, priced case: every other case (a late event, no
   price yet, a semaphore not given within SEM_WAIT_NS) returns None and the caller takes the Python path
   (region.py, ledger.py), where it is written once.

   The layout is region.py's (LAYOUT); ``CELLS`` exports the indices this file uses, compared by tests/test_cells.py.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define LAYOUT 4
enum { H_CREATED = 2, H_LAST = 3, H_N = 4, H_PRICED = 5, H_BILLS_IDLE = 6, H_OPENED = 7, H_BUSY_NS = 8,
       H_RATE = 9, H_ACC = 10, H_UNPRICED = 11, H_IDLE = 13, H_RING_POS = 21, H_IDLE_NS = 22, H_HOLDER = 23 };
enum { S_K = 2, S_SUM_ACC = 3, S_UNFLUSHED = 4, S_UNFLUSHED_N = 5, S_ROOTS = 6, S_ATTRIBUTED = 7 };
#define RING 1024
#define RING_BASE 32
#define HEADER_CELLS (RING_BASE + RING)
#define SLOT_CELLS 16
#define N_BITS 12
#define N_MASK ((1 << N_BITS) - 1)
#define T_MASK ((((int64_t)1) << (63 - N_BITS)) - 1)
#define SEM_WAIT_NS 250000000L /* region.SEM_WAIT_S */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    char *base;
    Py_ssize_t cells;
    sem_t *sem; /* the host's semaphore; NULL for a process's own region (the GIL is its lock) */
    int64_t pid;
    Py_ssize_t slot;
} Cells;

static PyObject *str_acc, *str_prev, *str_unpriced, *str_partial, *str_span_id;

/* Cells are read and written through memcpy: one region is both int64 and float64 (no aliasing assumptions). */
static inline int64_t qi(Cells *s, Py_ssize_t i) { int64_t v; memcpy(&v, s->base + i * 8, 8); return v; }
static inline double fd(Cells *s, Py_ssize_t i) { double v; memcpy(&v, s->base + i * 8, 8); return v; }
static inline void set_q(Cells *s, Py_ssize_t i, int64_t v) { memcpy(s->base + i * 8, &v, 8); }
static inline void set_f(Cells *s, Py_ssize_t i, double v) { memcpy(s->base + i * 8, &v, 8); }

/* Wait for the host's semaphore with the GIL released, at most SEM_WAIT_NS: 0 when not given in time (the Python
   path then waits on, and gives back a dead holder's: region.py). */
static int wait_for(sem_t *sem) {
    struct timespec deadline;
    if (clock_gettime(CLOCK_REALTIME, &deadline) != 0) return 0;
    deadline.tv_nsec += SEM_WAIT_NS;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = sem_timedwait(sem, &deadline);
    } while (rc != 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    return rc == 0;
}

/* Take the region: the host's semaphore, waited for (another process holds it for well under a microsecond on
   this path, and waiting here beats handing the event to the Python path, which would hold it a hundred times
   longer and make the next ones wait too); a process's own region, only if no Python path of it holds it. */
static inline int take(Cells *s) {
    if (s->sem != NULL) {
        if (sem_trywait(s->sem) != 0 && !wait_for(s->sem)) return 0;
    } else if (qi(s, H_HOLDER) != 0) {
        return 0;
    }
    set_q(s, H_HOLDER, s->pid);
    return 1;
}

static inline void give(Cells *s) {
    set_q(s, H_HOLDER, 0);
    if (s->sem != NULL) sem_post(s->sem);
}

/* Move the integrals to ``now`` (> H_LAST, priced): returns the new acc. */
static inline double advance(Cells *s, int64_t now, int64_t last, int64_t n, double acc) {
    int64_t dt = now - last;
    if (n) {
        acc += fd(s, H_RATE) * (double)dt / (double)n;
        set_f(s, H_ACC, acc);
        set_q(s, H_BUSY_NS, qi(s, H_BUSY_NS) + dt);
    } else if (qi(s, H_BILLS_IDLE)) {
        set_f(s, H_IDLE, fd(s, H_IDLE) + fd(s, H_RATE) * (double)dt);
        set_q(s, H_IDLE_NS, qi(s, H_IDLE_NS) + dt);
    }
    set_q(s, H_LAST, now);
    return acc;
}

/* A checkpoint for late events (late.py): the time since the session began, modulo 2**51 ns, and the roots after. */
static inline void checkpoint(Cells *s, int64_t last, int64_t n) {
    int64_t pos = qi(s, H_RING_POS);
    int64_t t = (last - qi(s, H_CREATED)) & T_MASK;
    set_q(s, RING_BASE + pos % RING, (t << N_BITS) | (n < N_MASK ? n : N_MASK));
    set_q(s, H_RING_POS, pos + 1);
}

/* Take the region and move its integrals to ``now``: 0 (the region not taken) when the event is the Python path's:
   the region not had, no price yet, or ``now`` before the integral's clock (a late event, late.py). */
static inline int begin(Cells *s, int64_t now, int64_t *last, int64_t *n, double *acc) {
    if (!take(s)) return 0;
    *last = qi(s, H_LAST);
    *n = qi(s, H_N);
    if (!qi(s, H_PRICED) || now < *last) {
        give(s);
        return 0;
    }
    *acc = fd(s, H_ACC);
    if (now > *last) {
        *acc = advance(s, now, *last, *n, *acc);
        *last = now;
    }
    return 1;
}

static int check_args(Py_ssize_t nargs, PyObject *const *args, int64_t *now) {
    if (nargs != 4 || !PyDict_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "expected (now_ns, token, trace_id, by_trace: dict)");
        return -1;
    }
    *now = PyLong_AsLongLong(args[0]);
    return (*now == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int same_span(PyObject *a, PyObject *b) {
    PyObject *x = PyObject_GetAttr(a, str_span_id), *y = x == NULL ? NULL : PyObject_GetAttr(b, str_span_id);
    int same = y == NULL ? -1 : PyObject_RichCompareBool(x, y, Py_EQ);
    Py_XDECREF(x);
    Py_XDECREF(y);
    return same;
}

/* open(now_ns, token, trace_id, by_trace) -> token (or the token already open for the same span), or None when
   the Python path must do it. */
static PyObject *cells_open(Cells *s, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now;
    if (check_args(nargs, args, &now) < 0) return NULL;
    PyObject *token = args[1], *tid = args[2], *by_trace = args[3];
    PyObject *prev = PyDict_GetItemWithError(by_trace, tid); /* borrowed */
    if (prev == NULL && PyErr_Occurred()) return NULL;
    if (prev != NULL) { /* the same span reported twice (on its own thread): the first token, unchanged */
        int same = same_span(prev, token);
        if (same != 0) {
            if (same < 0) return NULL;
            Py_INCREF(prev);
            return prev;
        }
    }
    int64_t last, n;
    double acc;
    if (!begin(s, now, &last, &n, &acc)) Py_RETURN_NONE;
    set_q(s, H_N, n + 1);
    set_q(s, H_OPENED, 1);
    set_q(s, s->slot + S_ROOTS, 1);
    set_q(s, s->slot + S_K, qi(s, s->slot + S_K) + 1);
    set_f(s, s->slot + S_SUM_ACC, fd(s, s->slot + S_SUM_ACC) + acc);
    checkpoint(s, last, n + 1);
    double unpriced = fd(s, H_UNPRICED);
    give(s);
    /* Still holding the GIL: no thread of this process sees the token before it is whole. */
    prev = PyDict_GetItemWithError(by_trace, tid); /* again: the GIL may have been let go while waiting */
    if (prev == NULL && PyErr_Occurred()) return NULL;
    PyObject *acc_o = PyFloat_FromDouble(acc), *unpriced_o = PyFloat_FromDouble(unpriced);
    int failed = acc_o == NULL || unpriced_o == NULL || PyObject_SetAttr(token, str_acc, acc_o) < 0
        || PyObject_SetAttr(token, str_unpriced, unpriced_o) < 0
        || PyObject_SetAttr(token, str_prev, prev != NULL ? prev : Py_None) < 0
        || PyDict_SetItem(by_trace, tid, token) < 0;
    Py_XDECREF(acc_o);
    Py_XDECREF(unpriced_o);
    if (failed) return NULL;
    Py_INCREF(token);
    return token;
}

/* Take ``token`` out of its trace's chain of local roots in flight (innermost first, linked by ``prev``). */
static int unlink_token(PyObject *token, PyObject *tid, PyObject *by_trace) {
    PyObject *node = PyDict_GetItemWithError(by_trace, tid); /* borrowed */
    if (node == NULL) return PyErr_Occurred() ? -1 : 0;
    PyObject *prev = PyObject_GetAttr(token, str_prev);
    if (prev == NULL) return -1;
    int rc = 0;
    if (node == token) {
        rc = prev == Py_None ? PyDict_DelItem(by_trace, tid) : PyDict_SetItem(by_trace, tid, prev);
    } else { /* an inner root of its trace is still open: a few links at most */
        Py_INCREF(node);
        for (;;) {
            PyObject *next = PyObject_GetAttr(node, str_prev);
            if (next == NULL) { rc = -1; break; }
            if (next == Py_None) { Py_DECREF(next); break; }
            if (next == token) {
                Py_DECREF(next);
                rc = PyObject_SetAttr(node, str_prev, prev);
                break;
            }
            Py_DECREF(node);
            node = next;
        }
        Py_DECREF(node);
    }
    Py_DECREF(prev);
    return rc;
}

/* close(now_ns, token, trace_id, by_trace) -> the root's compute share (float), or None for the Python path;
   sets ``token.partial`` when no price was known for part of its life. */
static PyObject *cells_close(Cells *s, PyObject *const *args, Py_ssize_t nargs) {
    int64_t now;
    if (check_args(nargs, args, &now) < 0) return NULL;
    PyObject *token = args[1], *tid = args[2], *by_trace = args[3];
    PyObject *opened_o = PyObject_GetAttr(token, str_acc);
    if (opened_o == NULL) return NULL;
    double opened = PyFloat_AsDouble(opened_o);
    Py_DECREF(opened_o);
    if (opened == -1.0 && PyErr_Occurred()) return NULL;
    int64_t last, n;
    double acc;
    if (!begin(s, now, &last, &n, &acc)) Py_RETURN_NONE;
    if (n > 0) set_q(s, H_N, --n);
    int64_t k = qi(s, s->slot + S_K);
    if (k > 0) set_q(s, s->slot + S_K, k - 1);
    set_f(s, s->slot + S_SUM_ACC, fd(s, s->slot + S_SUM_ACC) - opened);
    double cost = acc - opened, unpriced = fd(s, H_UNPRICED);
    checkpoint(s, last, n);
    set_f(s, s->slot + S_ATTRIBUTED, fd(s, s->slot + S_ATTRIBUTED) + cost);
    set_f(s, s->slot + S_UNFLUSHED, fd(s, s->slot + S_UNFLUSHED) + cost);
    set_q(s, s->slot + S_UNFLUSHED_N, qi(s, s->slot + S_UNFLUSHED_N) + 1);
    give(s);
    PyObject *cost_o = PyFloat_FromDouble(cost), *opened_unpriced = PyObject_GetAttr(token, str_unpriced);
    /* a price unknown for part of its life (the integral of unpriced time moved while it was open) */
    int partial = opened_unpriced != NULL && unpriced > PyFloat_AsDouble(opened_unpriced);
    Py_XDECREF(opened_unpriced);
    if (cost_o == NULL || opened_unpriced == NULL || PyErr_Occurred()
        || (partial && PyObject_SetAttr(token, str_partial, Py_True) < 0) || unlink_token(token, tid, by_trace) < 0) {
        Py_XDECREF(cost_o);
        return NULL;
    }
    return cost_o;
}

static PyMethodDef cells_methods[] = {
    {"open", (PyCFunction)(void (*)(void))cells_open, METH_FASTCALL, "Open a local root (in order, priced) or None."},
    {"close", (PyCFunction)(void (*)(void))cells_close, METH_FASTCALL, "Close a local root: its share, or None."},
    {NULL, NULL, 0, NULL},
};

/* Cells(buffer, slot, pid, sem_handle): sem_handle is a multiprocessing SemLock's ``handle`` (0: none). */
static int cells_init(Cells *s, PyObject *args, PyObject *kwds) {
    PyObject *buffer;
    Py_ssize_t slot;
    long long pid;
    unsigned long long sem;
    if (!PyArg_ParseTuple(args, "OnLK", &buffer, &slot, &pid, &sem)) return -1;
    if (s->base != NULL) { PyErr_SetString(PyExc_TypeError, "Cells is bound once"); return -1; }
    if (PyObject_GetBuffer(buffer, &s->view, PyBUF_WRITABLE) < 0) return -1;
    s->base = s->view.buf;
    s->cells = s->view.len / 8;
    if (slot < HEADER_CELLS || slot + SLOT_CELLS > s->cells) {
        PyErr_SetString(PyExc_ValueError, "slot outside the region");
        return -1;
    }
    s->slot = slot;
    s->pid = pid;
    s->sem = (sem_t *)(uintptr_t)sem;
    return 0;
}

static void cells_dealloc(Cells *s) {
    if (s->base != NULL) PyBuffer_Release(&s->view);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyTypeObject CellsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "opentelemetry_instrumentation_cost.attribution._cells.Cells",
    .tp_basicsize = sizeof(Cells),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A region's cells, for the ledger's hot path.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)cells_init,
    .tp_dealloc = (destructor)cells_dealloc,
    .tp_methods = cells_methods,
};


/* Token: ``ledger.Token`` as a C type (the same slots, the same defaults, the same AttributeError for the three
   that ``open`` sets). Made once per local root: a Python ``__init__`` storing its 13 defaults costs about 4,000
   instructions here, this one a few hundred. tests/test_cells.py compares the two classes. */
enum { T_ACC, T_BUDGET_EXCEEDED, T_BY_SERVICE, T_COMPUTE, T_CUSTOMER, T_EDGE, T_END_NS, T_OWN_USD, T_PARTIAL, T_PREV,
       T_RATE_EXCEEDED, T_SERVICES_USD, T_SPAN_ID, T_SPAN_REF, T_TRACE_ID, T_TRANSACTION, T_UNPRICED, T_FIELDS };

typedef struct {
    PyObject_HEAD
    PyObject *fields[T_FIELDS];
} TokenObject;

static PyObject *zero_float, *zero_int, *empty_str;

static int token_init(TokenObject *t, PyObject *args, PyObject *kwds) {
    PyObject *trace_id, *span_id;
    static char *names[] = {"trace_id", "span_id", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO", names, &trace_id, &span_id)) return -1;
    PyObject *values[T_FIELDS] = {NULL};
    values[T_TRACE_ID] = trace_id;
    values[T_SPAN_ID] = span_id;
    values[T_SERVICES_USD] = values[T_OWN_USD] = zero_float;
    values[T_BY_SERVICE] = values[T_TRANSACTION] = values[T_SPAN_REF] = values[T_COMPUTE] = Py_None;
    values[T_CUSTOMER] = empty_str;
    values[T_EDGE] = values[T_BUDGET_EXCEEDED] = values[T_RATE_EXCEEDED] = values[T_PARTIAL] = Py_False;
    values[T_END_NS] = zero_int;
    for (int i = 0; i < T_FIELDS; i++) {
        Py_XINCREF(values[i]);
        Py_XSETREF(t->fields[i], values[i]);
    }
    return 0;
}

static int token_traverse(TokenObject *t, visitproc visit, void *arg) {
    for (int i = 0; i < T_FIELDS; i++) Py_VISIT(t->fields[i]);
    return 0;
}

static int token_clear(TokenObject *t) {
    for (int i = 0; i < T_FIELDS; i++) Py_CLEAR(t->fields[i]);
    return 0;
}

static void token_dealloc(TokenObject *t) {
    PyObject_GC_UnTrack(t);
    token_clear(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

#define FIELD(name, i) {name, T_OBJECT_EX, offsetof(TokenObject, fields) + (i) * sizeof(PyObject *), 0, NULL}
static PyMemberDef token_members[] = {
    FIELD("acc", T_ACC), FIELD("budget_exceeded", T_BUDGET_EXCEEDED), FIELD("by_service", T_BY_SERVICE),
    FIELD("compute", T_COMPUTE), FIELD("customer", T_CUSTOMER), FIELD("edge", T_EDGE), FIELD("end_ns", T_END_NS),
    FIELD("own_usd", T_OWN_USD), FIELD("partial", T_PARTIAL), FIELD("prev", T_PREV),
    FIELD("rate_exceeded", T_RATE_EXCEEDED), FIELD("services_usd", T_SERVICES_USD), FIELD("span_id", T_SPAN_ID),
    FIELD("span_ref", T_SPAN_REF), FIELD("trace_id", T_TRACE_ID), FIELD("transaction", T_TRANSACTION),
    FIELD("unpriced", T_UNPRICED), {NULL, 0, 0, 0, NULL},
};

static PyObject *token_live_span(TokenObject *t, PyObject *unused) {
    PyObject *ref = t->fields[T_SPAN_REF];
    if (ref == NULL || ref == Py_None) Py_RETURN_NONE;
    return PyObject_CallNoArgs(ref);
}

static PyMethodDef token_methods[] = {
    {"live_span", (PyCFunction)token_live_span, METH_NOARGS, "The root's span while it is open and held; else None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TokenType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "opentelemetry_instrumentation_cost.attribution._cells.Token",
    .tp_basicsize = sizeof(TokenObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A local root in flight (see ledger.Token).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)token_init,
    .tp_traverse = (traverseproc)token_traverse,
    .tp_clear = (inquiry)token_clear,
    .tp_dealloc = (destructor)token_dealloc,
    .tp_members = token_members,
    .tp_methods = token_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cells", "The ledger's hot path (see _cells.c).", -1};

PyMODINIT_FUNC PyInit__cells(void) {
    str_acc = PyUnicode_InternFromString("acc");
    str_prev = PyUnicode_InternFromString("prev");
    str_unpriced = PyUnicode_InternFromString("unpriced");
    str_partial = PyUnicode_InternFromString("partial");
    str_span_id = PyUnicode_InternFromString("span_id");
    zero_float = PyFloat_FromDouble(0.0);
    zero_int = PyLong_FromLong(0);
    empty_str = PyUnicode_FromString("");
    if (str_acc == NULL || str_prev == NULL || str_unpriced == NULL || str_partial == NULL || str_span_id == NULL
        || zero_float == NULL || zero_int == NULL || empty_str == NULL || PyType_Ready(&CellsType) < 0
        || PyType_Ready(&TokenType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *cells = Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
        "LAYOUT", LAYOUT, "H_CREATED", H_CREATED, "H_LAST", H_LAST, "H_N", H_N, "H_PRICED", H_PRICED,
        "H_BILLS_IDLE", H_BILLS_IDLE, "H_OPENED", H_OPENED, "H_BUSY_NS", H_BUSY_NS, "H_RATE", H_RATE, "H_ACC", H_ACC,
        "H_UNPRICED", H_UNPRICED, "H_IDLE", H_IDLE, "H_RING_POS", H_RING_POS, "H_IDLE_NS", H_IDLE_NS,
        "H_HOLDER", H_HOLDER, "S_K", S_K, "S_SUM_ACC", S_SUM_ACC, "S_UNFLUSHED", S_UNFLUSHED,
        "S_UNFLUSHED_N", S_UNFLUSHED_N, "S_ROOTS", S_ROOTS, "S_ATTRIBUTED", S_ATTRIBUTED, "RING", RING,
        "RING_BASE", RING_BASE, "SLOT_CELLS", SLOT_CELLS, "N_BITS", N_BITS, "HEADER_CELLS", HEADER_CELLS);
    Py_INCREF(&CellsType);
    Py_INCREF(&TokenType);
    if (cells == NULL || PyModule_AddObject(m, "CELLS", cells) < 0
        || PyModule_AddObject(m, "Cells", (PyObject *)&CellsType) < 0
        || PyModule_AddObject(m, "Token", (PyObject *)&TokenType) < 0) {
        Py_XDECREF(cells);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
