/* The probe's hot paths in C: the optional accelerator of chaoskit's probe.
 *
 * probe_sysmon.py and probe_trace.py hold the pure-Python callbacks, which define what is
 * measured; this module does the same bookkeeping without a Python frame per call, the way
 * coverage.py's CTracer sits beside its PyTracer. Everything that happens rarely (a new
 * maximum depth, an exception, a line event after an exception, loop counting, leaving a
 * thread after the probe stopped) is handed back to the same Python methods the
 * pure-Python callbacks call.
 *
 * Two types:
 *
 * ThreadState  one thread's view, as probe_state.ThreadState: ``stack`` (a list of the
 *              in-scope code objects running now), ``exc`` (the pending exception record or
 *              None), ``ident``; per code object the outermost position on the stack and the
 *              peak depth this iteration, kept in a C array indexed by the code's position
 *              in its Tracker (no dict keyed by id(code) to hash).
 *
 * Tracker      one probe backend's scope (code object -> index, by identity) and its
 *              callbacks: ``push``/``pop``/``unwind``/``raise_``/``reraise``/``handled``
 *              for sys.monitoring (3.12+), or, on CPython 3.11, a C trace or profile
 *              function installed with PyEval_SetTrace/PyEval_SetProfile the first time
 *              the Tracker is called as a Python trace function in a thread.
 *
 * Errors follow the Python callbacks: a RecursionError (the program is at the limit) skips
 * the event, any other Exception is handed to ``Recorder.fail`` (which logs it and switches
 * the probe off), and a BaseException that is not an Exception (KeyboardInterrupt) goes on
 * into the program.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
/* CPython 3.11 has no API to switch a frame's line events off (f_trace_lines): the field
 * is read from the frame object's struct, as coverage.py's tracer does. Trace and profile
 * functions are only accelerated there: on 3.12+ the probe uses sys.monitoring. */
#include <internal/pycore_frame.h>
#define TRACE_FUNCTIONS 1
#else
#define TRACE_FUNCTIONS 0
#endif

/* ---- code index: code object -> small integer, by identity ---------------------------
 * Open addressing over pointers, at most half full. Keys are borrowed: the Tracker's
 * ``codes`` list owns them, so an address cannot be reused while it is in the index. */

typedef struct {
    PyObject *key;
    Py_ssize_t value;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
    Py_ssize_t used;
} CodeIndex;

static inline size_t
slot_of(const CodeIndex *ix, PyObject *key)
{
    /* Fibonacci hashing: object addresses are aligned, so their low bits carry nothing */
    uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 29) & ix->mask;
}

static inline Py_ssize_t
index_get(const CodeIndex *ix, PyObject *key)
{
    if (ix->slots == NULL) {
        return -1;
    }
    for (size_t i = slot_of(ix, key);; i = (i + 1) & ix->mask) {
        PyObject *k = ix->slots[i].key;
        if (k == key) {
            return ix->slots[i].value;
        }
        if (k == NULL) {
            return -1;
        }
    }
}

static void
index_insert(CodeIndex *ix, PyObject *key, Py_ssize_t value)
{
    size_t i = slot_of(ix, key);
    while (ix->slots[i].key != NULL) {
        i = (i + 1) & ix->mask;
    }
    ix->slots[i].key = key;
    ix->slots[i].value = value;
    ix->used++;
}

/* Add ``key`` (not present yet); 0, or -1 with MemoryError set. */
static int
index_add(CodeIndex *ix, PyObject *key, Py_ssize_t value)
{
    if (ix->slots == NULL || (size_t)(ix->used + 1) * 2 > ix->mask + 1) {
        size_t size = ix->slots == NULL ? 64 : (ix->mask + 1) * 2;
        Slot *old = ix->slots;
        size_t old_size = old == NULL ? 0 : ix->mask + 1;
        Slot *slots = PyMem_Calloc(size, sizeof(Slot));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        ix->slots = slots;
        ix->mask = size - 1;
        ix->used = 0;
        for (size_t i = 0; i < old_size; i++) {
            if (old[i].key != NULL) {
                index_insert(ix, old[i].key, old[i].value);
            }
        }
        PyMem_Free(old);
    }
    index_insert(ix, key, value);
    return 0;
}

static void
index_free(CodeIndex *ix)
{
    PyMem_Free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
    ix->used = 0;
}

/* ---- ThreadState ---------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t pos;  /* outermost position of this code on the stack; -1: none yet */
    Py_ssize_t peak; /* deepest chain this iteration */
} Entry;

typedef struct {
    PyObject_HEAD
    PyObject *ident;
    PyObject *stack; /* list of code objects */
    PyObject *exc;   /* a probe_state.Pending, or NULL for None */
    Entry *entries;  /* by code index; grown on demand */
    Py_ssize_t n_entries;
    PyObject *weakrefs;
} ThreadState;

static PyTypeObject ThreadState_Type;

static PyObject *
ThreadState_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"ident", NULL};
    PyObject *ident;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:ThreadState", kwlist, &PyLong_Type,
                                     &ident)) {
        return NULL;
    }
    ThreadState *self = (ThreadState *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->stack = PyList_New(0);
    if (self->stack == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->ident = Py_NewRef(ident);
    return (PyObject *)self;
}

static int
ThreadState_traverse(ThreadState *self, visitproc visit, void *arg)
{
    Py_VISIT(self->stack);
    Py_VISIT(self->exc);
    return 0;
}

static int
ThreadState_clear(ThreadState *self)
{
    Py_CLEAR(self->stack);
    Py_CLEAR(self->exc);
    return 0;
}

static void
ThreadState_dealloc(ThreadState *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    ThreadState_clear(self);
    Py_CLEAR(self->ident);
    PyMem_Free(self->entries);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The entry of code index ``ix``, growing the array; NULL with MemoryError set. */
static inline Entry *
entry_of(ThreadState *st, Py_ssize_t ix)
{
    if (ix >= st->n_entries) {
        Py_ssize_t n = st->n_entries * 2 > ix + 1 ? st->n_entries * 2 : ix + 8;
        Entry *grown = PyMem_Realloc(st->entries, (size_t)n * sizeof(Entry));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        for (Py_ssize_t i = st->n_entries; i < n; i++) {
            grown[i].pos = -1;
            grown[i].peak = 0;
        }
        st->entries = grown;
        st->n_entries = n;
    }
    return &st->entries[ix];
}

/* A frame of ``code`` left that is not on top: drop it and anything above it, if it is
 * known (probe_state.ThreadState.resync_pop). 0, or -1 with an exception set. */
static int
resync_pop(ThreadState *st, PyObject *code)
{
    for (Py_ssize_t pos = PyList_GET_SIZE(st->stack) - 1; pos >= 0; pos--) {
        if (PyList_GET_ITEM(st->stack, pos) == code) {
            return PyList_SetSlice(st->stack, pos, PyList_GET_SIZE(st->stack), NULL);
        }
    }
    return 0;
}

/* The hot path of a return or yield. */
static inline int
pop_code(ThreadState *st, PyObject *code)
{
    Py_ssize_t n = PyList_GET_SIZE(st->stack);
    if (n > 0 && PyList_GET_ITEM(st->stack, n - 1) == code) {
        /* list.pop() without its shrink check: the slot is reused by the next push */
        Py_SET_SIZE(st->stack, n - 1);
        Py_DECREF(code);
        return 0;
    }
    return resync_pop(st, code);
}

static PyObject *
ThreadState_resync_pop(ThreadState *self, PyObject *code)
{
    if (resync_pop(self, code) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ThreadState_reset_peaks(ThreadState *self, PyObject *Py_UNUSED(ignored))
{
    for (Py_ssize_t i = 0; i < self->n_entries; i++) {
        self->entries[i].peak = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *
ThreadState_get_ident(ThreadState *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->ident);
}

static PyObject *
ThreadState_get_stack(ThreadState *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->stack);
}

static PyObject *
ThreadState_get_exc(ThreadState *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->exc != NULL ? self->exc : Py_None);
}

static int
ThreadState_set_exc(ThreadState *self, PyObject *value, void *Py_UNUSED(closure))
{
    /* None is kept as NULL so that the hot paths test one pointer */
    Py_XSETREF(self->exc, value == NULL || value == Py_None ? NULL : Py_NewRef(value));
    return 0;
}

static PyMethodDef ThreadState_methods[] = {
    {"resync_pop", (PyCFunction)ThreadState_resync_pop, METH_O,
     PyDoc_STR("A frame of this code left that is not on top: drop it and what is above.")},
    {"reset_peaks", (PyCFunction)ThreadState_reset_peaks, METH_NOARGS,
     PyDoc_STR("A new iteration starts: every function's peak depth is 0 again.")},
    {NULL},
};

static PyGetSetDef ThreadState_getset[] = {
    {"ident", (getter)ThreadState_get_ident, NULL, PyDoc_STR("threading.get_ident()"), NULL},
    {"stack", (getter)ThreadState_get_stack, NULL, PyDoc_STR("in-scope code running now"),
     NULL},
    {"exc", (getter)ThreadState_get_exc, (setter)ThreadState_set_exc,
     PyDoc_STR("the exception whose fate is not known yet (a Pending), or None"), NULL},
    {NULL},
};

static PyTypeObject ThreadState_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chaoskit.hooks._probe_speedups.ThreadState",
    .tp_doc = PyDoc_STR("One thread's view: in-scope stack, peaks, pending exception."),
    .tp_basicsize = sizeof(ThreadState),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = ThreadState_new,
    .tp_dealloc = (destructor)ThreadState_dealloc,
    .tp_traverse = (traverseproc)ThreadState_traverse,
    .tp_clear = (inquiry)ThreadState_clear,
    .tp_weaklistoffset = offsetof(ThreadState, weakrefs),
    .tp_methods = ThreadState_methods,
    .tp_getset = ThreadState_getset,
};

/* ---- Tracker -------------------------------------------------------------------------- */

enum { MODE_MONITORING, MODE_TRACE, MODE_PROFILE };
static const char *const mode_names[] = {"monitoring", "trace", "profile"};

typedef struct {
    PyObject_HEAD
    int mode;
    char stopped;     /* trace/profile: leave each thread at its next event */
    char count_lines; /* trace: loop counting wants line events of in-scope frames */
    CodeIndex index;  /* code -> position in ``codes`` */
    PyObject *codes;  /* list: the code objects in scope, kept alive */
    PyObject *local;  /* threading.local(): .st is the thread's ThreadState */
    ThreadState *cached; /* the last thread's state (a strong reference) ... */
    uint64_t cached_id;  /* ... and its PyThreadState_GetID() */
    /* Recorder methods */
    PyObject *register_state, *new_peak, *settle, *raised, *reraised, *handled, *unwound,
        *fail;
    /* trace/profile modes: the Python backend's slow paths and the chained profile function */
    PyObject *on_return, *on_exception, *on_line, *leave, *chained;
} Tracker;

static PyTypeObject Tracker_Type;
static PyObject *threading_local; /* threading.local */
#if TRACE_FUNCTIONS
static PyObject *event_names[8]; /* "call", "exception", ... indexed by PyTrace_* */
#endif

/* The calling thread's state; with ``create`` 0, NULL without an error if it has none. */
static ThreadState *state_slow(Tracker *self, uint64_t id, int create);

static inline ThreadState *
thread_state(Tracker *self, int create)
{
    /* a PyThreadState id is never reused in an interpreter, unlike the struct's address */
    uint64_t id = PyThreadState_GetID(PyThreadState_Get());
    if (self->cached != NULL && self->cached_id == id) {
        return self->cached;
    }
    return state_slow(self, id, create);
}

static ThreadState *
state_slow(Tracker *self, uint64_t id, int create)
{
    PyObject *st = PyObject_GetAttrString(self->local, "st");
    if (st == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        if (!create) {
            return NULL;
        }
        PyObject *ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        if (ident == NULL) {
            return NULL;
        }
        st = PyObject_CallOneArg((PyObject *)&ThreadState_Type, ident);
        Py_DECREF(ident);
        if (st == NULL) {
            return NULL;
        }
        if (PyObject_SetAttrString(self->local, "st", st) < 0) {
            Py_DECREF(st);
            return NULL;
        }
        PyObject *res = PyObject_CallOneArg(self->register_state, st);
        if (res == NULL) {
            Py_DECREF(st);
            return NULL;
        }
        Py_DECREF(res);
    }
    else if (!PyObject_TypeCheck(st, &ThreadState_Type)) {
        PyErr_Format(PyExc_TypeError, "thread state is %R, not a ThreadState", st);
        Py_DECREF(st);
        return NULL;
    }
    /* Python code ran above (another thread may have run meanwhile): take the cache now */
    Py_XSETREF(self->cached, (ThreadState *)st);
    self->cached_id = id;
    return (ThreadState *)st;
}

/* An error happened in the probe's own work (an exception is set). Returns 0 when it was
 * dealt with (RecursionError skipped, other Exceptions handed to Recorder.fail), -1 when
 * it must go on into the program (a BaseException such as KeyboardInterrupt). */
static int
report_error(Tracker *self, const char *where)
{
    if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear(); /* the program hit the limit: skip this event, stay on */
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *res = PyObject_CallFunction(self->fail, "sO", where,
                                          value != NULL ? value : Py_None);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (res == NULL) {
        /* Recorder.fail catches its own errors; this is the last resort */
        PyErr_WriteUnraisable((PyObject *)self);
        return 0;
    }
    Py_DECREF(res);
    return 0;
}

/* Call a slow path with ``n`` arguments; 0, or -1 with an exception set. */
static inline int
call_slow(PyObject *fn, PyObject *const *args, size_t n)
{
    PyObject *res = PyObject_Vectorcall(fn, args, n, NULL);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* The hot path of a call or resume (probe_trace._TraceBase._push): the depth of the new
 * frame is the distance from the code's outermost frame on the stack, if that position
 * still holds it, else 1 (a new chain starts here). */
static inline int
push_code(Tracker *self, ThreadState *st, PyObject *code, Py_ssize_t ix)
{
    Py_ssize_t n = PyList_GET_SIZE(st->stack);
    Entry *e = entry_of(st, ix);
    if (e == NULL) {
        return -1;
    }
    Py_ssize_t depth;
    if (e->pos >= 0 && e->pos < n && PyList_GET_ITEM(st->stack, e->pos) == code) {
        depth = n + 1 - e->pos;
    }
    else {
        e->pos = n;
        depth = 1;
    }
    if (PyList_Append(st->stack, code) < 0) {
        return -1;
    }
    if (depth > e->peak) {
        PyObject *d = PyLong_FromSsize_t(depth);
        if (d == NULL) {
            return -1;
        }
        PyObject *args[] = {(PyObject *)st, code, d};
        int rc = call_slow(self->new_peak, args, 3);
        Py_DECREF(d);
        if (rc < 0) {
            return -1;
        }
        /* recorded once new_peak returned; ``e`` may have moved while Python code ran */
        st->entries[ix].peak = depth;
    }
    return 0;
}

static PyObject *
Tracker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"recorder", "mode", "on_return", "on_exception", "on_line",
                             "leave", "chained", NULL};
    PyObject *recorder;
    const char *mode_name;
    PyObject *on_return = NULL, *on_exception = NULL, *on_line = NULL, *leave = NULL;
    PyObject *chained = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Os|$OOOOO:Tracker", kwlist, &recorder,
                                     &mode_name, &on_return, &on_exception, &on_line, &leave,
                                     &chained)) {
        return NULL;
    }
    int mode = -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(mode_name, mode_names[i]) == 0) {
            mode = i;
        }
    }
    if (mode < 0) {
        PyErr_Format(PyExc_ValueError, "unknown mode %s (monitoring, trace or profile)",
                     mode_name);
        return NULL;
    }
    if (mode != MODE_MONITORING) {
        if (!TRACE_FUNCTIONS) {
            PyErr_SetString(PyExc_ValueError,
                            "C trace and profile functions are built for CPython 3.11 only");
            return NULL;
        }
        if (leave == NULL || (mode == MODE_TRACE && (on_return == NULL ||
                                                     on_exception == NULL || on_line == NULL))) {
            PyErr_SetString(PyExc_TypeError,
                            "trace mode needs on_return, on_exception, on_line and leave; "
                            "profile mode needs leave");
            return NULL;
        }
    }
    Tracker *self = (Tracker *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->mode = mode;
    self->codes = PyList_New(0);
    self->local = PyObject_CallNoArgs(threading_local);
    if (self->codes == NULL || self->local == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    /* bound once here: the hot paths call them without an attribute lookup */
    struct {
        PyObject **slot;
        const char *name;
    } methods[] = {
        {&self->register_state, "register"}, {&self->new_peak, "new_peak"},
        {&self->settle, "settle"},           {&self->raised, "raised"},
        {&self->reraised, "reraised"},       {&self->handled, "handled"},
        {&self->unwound, "unwound"},         {&self->fail, "fail"},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        *methods[i].slot = PyObject_GetAttrString(recorder, methods[i].name);
        if (*methods[i].slot == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    self->on_return = Py_XNewRef(on_return);
    self->on_exception = Py_XNewRef(on_exception);
    self->on_line = Py_XNewRef(on_line);
    self->leave = Py_XNewRef(leave);
    self->chained = chained == Py_None ? NULL : Py_XNewRef(chained);
    return (PyObject *)self;
}

static int
Tracker_traverse(Tracker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->codes);
    Py_VISIT(self->local);
    Py_VISIT(self->cached);
    Py_VISIT(self->register_state);
    Py_VISIT(self->new_peak);
    Py_VISIT(self->settle);
    Py_VISIT(self->raised);
    Py_VISIT(self->reraised);
    Py_VISIT(self->handled);
    Py_VISIT(self->unwound);
    Py_VISIT(self->fail);
    Py_VISIT(self->on_return);
    Py_VISIT(self->on_exception);
    Py_VISIT(self->on_line);
    Py_VISIT(self->leave);
    Py_VISIT(self->chained);
    return 0;
}

static int
Tracker_clear(Tracker *self)
{
    /* the index borrows from ``codes``: empty it first */
    index_free(&self->index);
    Py_CLEAR(self->codes);
    Py_CLEAR(self->local);
    Py_CLEAR(self->cached);
    Py_CLEAR(self->register_state);
    Py_CLEAR(self->new_peak);
    Py_CLEAR(self->settle);
    Py_CLEAR(self->raised);
    Py_CLEAR(self->reraised);
    Py_CLEAR(self->handled);
    Py_CLEAR(self->unwound);
    Py_CLEAR(self->fail);
    Py_CLEAR(self->on_return);
    Py_CLEAR(self->on_exception);
    Py_CLEAR(self->on_line);
    Py_CLEAR(self->leave);
    Py_CLEAR(self->chained);
    return 0;
}

static void
Tracker_dealloc(Tracker *self)
{
    PyObject_GC_UnTrack(self);
    Tracker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Tracker_watch(Tracker *self, PyObject *code)
{
    if (!PyCode_Check(code)) {
        PyErr_Format(PyExc_TypeError, "watch() needs a code object, not %.100s",
                     Py_TYPE(code)->tp_name);
        return NULL;
    }
    if (self->codes == NULL || index_get(&self->index, code) >= 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t ix = PyList_GET_SIZE(self->codes);
    if (PyList_Append(self->codes, code) < 0) {
        return NULL;
    }
    if (index_add(&self->index, code, ix) < 0) {
        /* keep the list and the index in step */
        PyList_SetSlice(self->codes, ix, ix + 1, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Tracker_state(Tracker *self, PyObject *Py_UNUSED(ignored))
{
    ThreadState *st = thread_state(self, 1);
    return st == NULL ? NULL : Py_NewRef((PyObject *)st);
}

/* ---- sys.monitoring callbacks ------------------------------------------------------------
 * Signatures as sys.monitoring calls them: (code, offset) for PY_START, PY_RESUME and
 * PY_THROW (plus exc), (code, offset, value-or-exc) for the others. PY_START, PY_RESUME,
 * PY_RETURN and PY_YIELD are local events on the code in scope; the exception events are
 * global and leave at once for code outside the scope. */

static PyObject *
after_error(Tracker *self, const char *where)
{
    if (report_error(self, where) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
check_args(Py_ssize_t nargs, Py_ssize_t needed, const char *name)
{
    if (nargs < needed) {
        PyErr_Format(PyExc_TypeError, "%s() takes at least %zd arguments (%zd given)", name,
                     needed, nargs);
        return -1;
    }
    return 0;
}

/* PY_START, PY_RESUME and PY_THROW */
static PyObject *
Tracker_push(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 1, "push") < 0) {
        return NULL;
    }
    PyObject *code = args[0];
    Py_ssize_t ix = index_get(&self->index, code);
    if (ix < 0) {
        Py_RETURN_NONE;
    }
    ThreadState *st = thread_state(self, 1);
    if (st == NULL || push_code(self, st, code, ix) < 0) {
        return after_error(self, "sys.monitoring push");
    }
    Py_RETURN_NONE;
}

/* PY_RETURN and PY_YIELD */
static PyObject *
Tracker_pop(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 1, "pop") < 0) {
        return NULL;
    }
    ThreadState *st = thread_state(self, 0);
    if (st == NULL) {
        /* no state yet: a frame that was running before the probe started in this thread */
        return PyErr_Occurred() ? after_error(self, "sys.monitoring pop") : Py_NewRef(Py_None);
    }
    if (pop_code(st, args[0]) < 0) {
        return after_error(self, "sys.monitoring pop");
    }
    if (st->exc != NULL) {
        PyObject *call_args[] = {(PyObject *)st};
        if (call_slow(self->settle, call_args, 1) < 0) {
            return after_error(self, "sys.monitoring pop");
        }
    }
    Py_RETURN_NONE;
}

/* Whether the caller of the running frame (the one being unwound) is in scope. */
static int
caller_in_scope(Tracker *self)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return 0;
    }
    PyFrameObject *back = PyFrame_GetBack(frame);
    if (back == NULL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(back);
    int found = index_get(&self->index, (PyObject *)code) >= 0;
    Py_DECREF(code);
    Py_DECREF(back);
    return found;
}

/* PY_UNWIND: an in-scope frame exits with an exception */
static PyObject *
Tracker_unwind(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 3, "unwind") < 0) {
        return NULL;
    }
    PyObject *code = args[0];
    if (index_get(&self->index, code) < 0) {
        Py_RETURN_NONE;
    }
    ThreadState *st = thread_state(self, 1);
    if (st == NULL || pop_code(st, code) < 0) {
        return after_error(self, "sys.monitoring unwind");
    }
    if (st->exc != NULL) {
        PyObject *call_args[] = {(PyObject *)st, args[2],
                                 caller_in_scope(self) ? Py_True : Py_False};
        if (call_slow(self->unwound, call_args, 3) < 0) {
            return after_error(self, "sys.monitoring unwind");
        }
    }
    Py_RETURN_NONE;
}

/* RAISE, RERAISE and EXCEPTION_HANDLED: the Recorder decides; ``with_code`` says whether
 * its method takes the code object (raised, handled) or not (reraised). */
static PyObject *
exception_event(Tracker *self, PyObject *const *args, Py_ssize_t nargs, PyObject *method,
                int with_code, const char *where)
{
    if (check_args(nargs, 3, where) < 0) {
        return NULL;
    }
    if (index_get(&self->index, args[0]) < 0) {
        Py_RETURN_NONE;
    }
    ThreadState *st = thread_state(self, 1);
    if (st == NULL) {
        return after_error(self, where);
    }
    PyObject *with[] = {(PyObject *)st, args[0], args[2]};
    PyObject *without[] = {(PyObject *)st, args[2]};
    if (call_slow(method, with_code ? with : without, with_code ? 3 : 2) < 0) {
        return after_error(self, where);
    }
    Py_RETURN_NONE;
}

static PyObject *
Tracker_raise(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exception_event(self, args, nargs, self->raised, 1, "sys.monitoring raise");
}

static PyObject *
Tracker_reraise(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exception_event(self, args, nargs, self->reraised, 0, "sys.monitoring reraise");
}

static PyObject *
Tracker_handled(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exception_event(self, args, nargs, self->handled, 1,
                           "sys.monitoring exception handled");
}

/* ---- trace and profile functions (CPython 3.11) -------------------------------------------
 * probe_trace.py's settrace and setprofile backends, with the hot paths in C: a call of
 * in-scope code pushes, its return pops. Unlike a Python trace function, a C one sees every
 * event of every frame, so each event checks the scope itself (one index lookup). Line
 * events are switched off in each frame at its call, and switched on again by the Python
 * slow path after an exception (as in the pure-Python backend). */

#if TRACE_FUNCTIONS

static int
leave_thread(Tracker *self)
{
    PyObject *res = PyObject_CallNoArgs(self->leave);
    if (res == NULL) {
        return report_error(self, self->mode == MODE_TRACE ? "settrace call" : "setprofile");
    }
    Py_DECREF(res);
    return 0;
}

/* ``code``'s index in the scope, or -1 (the frame is not watched) */
static inline Py_ssize_t
frame_index(Tracker *self, PyFrameObject *frame, PyObject **code)
{
    *code = (PyObject *)PyFrame_GetCode(frame); /* a new reference: the caller drops it */
    return index_get(&self->index, *code);
}

static int
on_call(Tracker *self, PyFrameObject *frame)
{
    if (self->mode == MODE_TRACE) {
        frame->f_trace_lines = 0;
    }
    PyObject *code;
    Py_ssize_t ix = frame_index(self, frame, &code);
    int rc = 0;
    if (ix >= 0) {
        ThreadState *st = thread_state(self, 1);
        if (st == NULL || push_code(self, st, code, ix) < 0) {
            rc = report_error(self, self->mode == MODE_TRACE ? "settrace call" : "setprofile");
        }
    }
    Py_DECREF(code);
    return rc;
}

static int
on_return(Tracker *self, PyFrameObject *frame, PyObject *arg)
{
    PyObject *code;
    Py_ssize_t ix = frame_index(self, frame, &code);
    int rc = 0;
    if (ix >= 0) {
        const char *where = self->mode == MODE_TRACE ? "settrace local" : "setprofile";
        ThreadState *st = thread_state(self, 0);
        if (st == NULL) {
            rc = PyErr_Occurred() ? report_error(self, where) : 0;
        }
        else if (pop_code(st, code) < 0) {
            rc = report_error(self, where);
        }
        else if (st->exc != NULL && self->mode == MODE_TRACE) {
            PyObject *args[] = {(PyObject *)st, (PyObject *)frame, arg};
            if (call_slow(self->on_return, args, 3) < 0) {
                rc = report_error(self, where);
            }
        }
    }
    Py_DECREF(code);
    return rc;
}

static int
on_exception(Tracker *self, PyFrameObject *frame, PyObject *arg)
{
    PyObject *code;
    Py_ssize_t ix = frame_index(self, frame, &code);
    Py_DECREF(code); /* only its identity was needed */
    if (ix < 0) {
        return 0;
    }
    ThreadState *st = thread_state(self, 1);
    PyObject *args[] = {(PyObject *)st, (PyObject *)frame, arg};
    if (st == NULL || call_slow(self->on_exception, args, 3) < 0) {
        return report_error(self, "settrace local");
    }
    return 0;
}

static int
on_line(Tracker *self, PyFrameObject *frame)
{
    /* only frames that the slow path switched lines on for, or that were running before
     * the probe started, send lines: the latter are switched off at their first one */
    if (!self->count_lines) {
        ThreadState *st = thread_state(self, 0);
        if (st == NULL && PyErr_Occurred()) {
            return report_error(self, "settrace local");
        }
        if (st == NULL || st->exc == NULL) {
            frame->f_trace_lines = 0;
            return 0;
        }
    }
    PyObject *code;
    Py_ssize_t ix = frame_index(self, frame, &code);
    Py_DECREF(code);
    if (ix < 0) {
        frame->f_trace_lines = 0;
        return 0;
    }
    ThreadState *st = thread_state(self, 1);
    PyObject *args[] = {(PyObject *)st, (PyObject *)frame};
    if (st == NULL || call_slow(self->on_line, args, 2) < 0) {
        return report_error(self, "settrace local");
    }
    return 0;
}

static int
chain(Tracker *self, PyFrameObject *frame, int what, PyObject *arg)
{
    /* the profile function that was installed before the probe's, called as the
     * interpreter would have called it; its errors are its own and go on */
    if (what < 0 || what > PyTrace_OPCODE || event_names[what] == NULL) {
        return 0;
    }
    PyObject *args[] = {(PyObject *)frame, event_names[what], arg};
    return call_slow(self->chained, args, 3);
}

/* The function installed with PyEval_SetTrace/PyEval_SetProfile; ``obj`` is the Tracker. */
static int
trace_function(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    Tracker *self = (Tracker *)obj;
    if (arg == NULL) {
        arg = Py_None; /* a return while unwinding; Python trace functions see None too */
    }
    if (self->chained != NULL && chain(self, frame, what, arg) < 0) {
        return -1;
    }
    if (self->stopped) {
        return leave_thread(self);
    }
    switch (what) {
    case PyTrace_CALL:
        return on_call(self, frame);
    case PyTrace_RETURN:
        return on_return(self, frame, arg);
    case PyTrace_EXCEPTION:
        return self->mode == MODE_TRACE ? on_exception(self, frame, arg) : 0;
    case PyTrace_LINE:
        return self->mode == MODE_TRACE ? on_line(self, frame) : 0;
    default:
        return 0; /* c_call, c_return, c_exception, opcode */
    }
}

/* Called as a Python trace/profile function (sys.settrace(tracker), threading.settrace,
 * or a thread reached through probe_threads): handle the event, then install the C
 * function in this thread so that later events skip the Python trampoline. Only on a call
 * event, and only while the slot still holds this Tracker: otherwise a function set in
 * between would be overwritten (coverage.py's tracer explains the same case). */
static PyObject *
Tracker_call(Tracker *self, PyObject *args, PyObject *kwds)
{
    PyObject *frame, *event, *arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!UO:Tracker", (char *[]){"frame", "event",
                                     "arg", NULL}, &PyFrame_Type, &frame, &event, &arg)) {
        return NULL;
    }
    if (self->mode == MODE_MONITORING) {
        PyErr_SetString(PyExc_TypeError, "a monitoring Tracker is not a trace function");
        return NULL;
    }
    int what = -1;
    for (int i = 0; i <= PyTrace_OPCODE; i++) {
        if (event_names[i] != NULL && PyUnicode_Compare(event, event_names[i]) == 0) {
            what = i;
        }
    }
    if (trace_function((PyObject *)self, (PyFrameObject *)frame, what, arg) < 0) {
        return NULL;
    }
    if (what == PyTrace_CALL && !self->stopped) {
        PyThreadState *ts = PyThreadState_Get();
        if (self->mode == MODE_TRACE && ts->c_traceobj == (PyObject *)self) {
            PyEval_SetTrace(trace_function, (PyObject *)self);
        }
        else if (self->mode == MODE_PROFILE && ts->c_profileobj == (PyObject *)self) {
            PyEval_SetProfile(trace_function, (PyObject *)self);
        }
    }
    /* no local trace function: the C function sees every event of every frame */
    Py_RETURN_NONE;
}

#endif /* TRACE_FUNCTIONS */

static PyObject *
Tracker_get_stopped(Tracker *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->stopped);
}

static int
Tracker_set_stopped(Tracker *self, PyObject *value, void *Py_UNUSED(closure))
{
    int flag = value == NULL ? 0 : PyObject_IsTrue(value);
    if (flag < 0) {
        return -1;
    }
    self->stopped = (char)flag;
    return 0;
}

static PyObject *
Tracker_get_count_lines(Tracker *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->count_lines);
}

static int
Tracker_set_count_lines(Tracker *self, PyObject *value, void *Py_UNUSED(closure))
{
    int flag = value == NULL ? 0 : PyObject_IsTrue(value);
    if (flag < 0) {
        return -1;
    }
    self->count_lines = (char)flag;
    return 0;
}

static PyObject *
Tracker_get_mode(Tracker *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(mode_names[self->mode]);
}

static PyMethodDef Tracker_methods[] = {
    {"watch", (PyCFunction)Tracker_watch, METH_O,
     PyDoc_STR("Measure this code object from now on.")},
    {"state", (PyCFunction)Tracker_state, METH_NOARGS,
     PyDoc_STR("The calling thread's ThreadState (made and registered on first use).")},
    {"push", (PyCFunction)(void (*)(void))Tracker_push, METH_FASTCALL,
     PyDoc_STR("sys.monitoring PY_START/PY_RESUME/PY_THROW callback.")},
    {"pop", (PyCFunction)(void (*)(void))Tracker_pop, METH_FASTCALL,
     PyDoc_STR("sys.monitoring PY_RETURN/PY_YIELD callback.")},
    {"unwind", (PyCFunction)(void (*)(void))Tracker_unwind, METH_FASTCALL,
     PyDoc_STR("sys.monitoring PY_UNWIND callback.")},
    {"raise_", (PyCFunction)(void (*)(void))Tracker_raise, METH_FASTCALL,
     PyDoc_STR("sys.monitoring RAISE callback.")},
    {"reraise", (PyCFunction)(void (*)(void))Tracker_reraise, METH_FASTCALL,
     PyDoc_STR("sys.monitoring RERAISE callback.")},
    {"handled", (PyCFunction)(void (*)(void))Tracker_handled, METH_FASTCALL,
     PyDoc_STR("sys.monitoring EXCEPTION_HANDLED callback.")},
    {NULL},
};

static PyGetSetDef Tracker_getset[] = {
    {"stopped", (getter)Tracker_get_stopped, (setter)Tracker_set_stopped,
     PyDoc_STR("trace/profile: leave each thread at its next event"), NULL},
    {"count_lines", (getter)Tracker_get_count_lines, (setter)Tracker_set_count_lines,
     PyDoc_STR("trace: hand line events of in-scope frames to on_line (loop counting)"),
     NULL},
    {"mode", (getter)Tracker_get_mode, NULL, PyDoc_STR("monitoring, trace or profile"),
     NULL},
    {NULL},
};

static PyTypeObject Tracker_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chaoskit.hooks._probe_speedups.Tracker",
    .tp_doc = PyDoc_STR("One probe backend's scope and callbacks."),
    .tp_basicsize = sizeof(Tracker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Tracker_new,
    .tp_dealloc = (destructor)Tracker_dealloc,
    .tp_traverse = (traverseproc)Tracker_traverse,
    .tp_clear = (inquiry)Tracker_clear,
#if TRACE_FUNCTIONS
    .tp_call = (ternaryfunc)Tracker_call,
#endif
    .tp_methods = Tracker_methods,
    .tp_getset = Tracker_getset,
};

/* ---- module ------------------------------------------------------------------------------ */

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chaoskit.hooks._probe_speedups",
    .m_doc = PyDoc_STR("The probe's hot paths in C (optional; see probe_core.py)."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__probe_speedups(void)
{
    if (PyType_Ready(&ThreadState_Type) < 0 || PyType_Ready(&Tracker_Type) < 0) {
        return NULL;
    }
    if (threading_local == NULL) {
        PyObject *threading = PyImport_ImportModule("threading");
        if (threading == NULL) {
            return NULL;
        }
        threading_local = PyObject_GetAttrString(threading, "local");
        Py_DECREF(threading);
        if (threading_local == NULL) {
            return NULL;
        }
    }
#if TRACE_FUNCTIONS
    static const struct {
        int what;
        const char *name;
    } events[] = {
        {PyTrace_CALL, "call"},         {PyTrace_EXCEPTION, "exception"},
        {PyTrace_LINE, "line"},         {PyTrace_RETURN, "return"},
        {PyTrace_C_CALL, "c_call"},     {PyTrace_C_EXCEPTION, "c_exception"},
        {PyTrace_C_RETURN, "c_return"}, {PyTrace_OPCODE, "opcode"},
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (event_names[events[i].what] == NULL) {
            event_names[events[i].what] = PyUnicode_InternFromString(events[i].name);
            if (event_names[events[i].what] == NULL) {
                return NULL;
            }
        }
    }
#endif
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "ThreadState", (PyObject *)&ThreadState_Type) < 0 ||
        PyModule_AddObjectRef(m, "Tracker", (PyObject *)&Tracker_Type) < 0 ||
        PyModule_AddObjectRef(m, "TRACE_FUNCTIONS", TRACE_FUNCTIONS ? Py_True : Py_False) <
            0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
