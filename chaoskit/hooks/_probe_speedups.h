/* Private header of the probe's C accelerator (module chaoskit.hooks._probe_speedups).
 *
 * The module is built from several C files (see the map at the top of _probe_speedups.c);
 * this header holds what they share: the version macros, the structs, and the few
 * functions and objects used across files, which are named with the prefix ``ps_``.
 * Everything else is ``static`` in its file.
 *
 * The hot paths shared between the sys.monitoring callbacks and the trace functions (the
 * scope lookup, the calling thread's state, a push and a pop) are ``static inline`` here
 * rather than functions in one file: each callback then compiles them in, as it did when
 * the module was one file, without a call across files on every event. */

#ifndef CHAOSKIT_PROBE_SPEEDUPS_H
#define CHAOSKIT_PROBE_SPEEDUPS_H

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

/* Shared between the module's files, not part of its interface: kept out of the shared
 * object's exported symbols where the compiler allows. */
#if defined(__GNUC__) && !defined(_WIN32) && !defined(__CYGWIN__)
#define PS_INTERNAL __attribute__((visibility("hidden")))
#else
#define PS_INTERNAL
#endif

/* ---- code index: code object -> small integer, by identity (_probe_index.c) ------------
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
ps_slot_of(const CodeIndex *ix, PyObject *key)
{
    /* Fibonacci hashing: object addresses are aligned, so their low bits carry nothing */
    uint64_t h = (uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 29) & ix->mask;
}

static inline Py_ssize_t
ps_index_get(const CodeIndex *ix, PyObject *key)
{
    if (ix->slots == NULL) {
        return -1;
    }
    for (size_t i = ps_slot_of(ix, key);; i = (i + 1) & ix->mask) {
        PyObject *k = ix->slots[i].key;
        if (k == key) {
            return ix->slots[i].value;
        }
        if (k == NULL) {
            return -1;
        }
    }
}

/* Add ``key`` (not present yet); 0, or -1 with MemoryError set. */
PS_INTERNAL int ps_index_add(CodeIndex *ix, PyObject *key, Py_ssize_t value);
PS_INTERNAL void ps_index_free(CodeIndex *ix);

/* ---- ThreadState (_probe_threadstate.c) ------------------------------------------------ */

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

PS_INTERNAL extern PyTypeObject ps_ThreadState_Type;

/* A frame of ``code`` left that is not on top: drop it and anything above it, if it is
 * known (probe_state.ThreadState.resync_pop). 0, or -1 with an exception set. */
PS_INTERNAL int ps_resync_pop(ThreadState *st, PyObject *code);

/* The entry of code index ``ix``, growing the array; NULL with MemoryError set. */
static inline Entry *
ps_entry_of(ThreadState *st, Py_ssize_t ix)
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

/* The hot path of a return or yield. */
static inline int
ps_pop_code(ThreadState *st, PyObject *code)
{
    Py_ssize_t n = PyList_GET_SIZE(st->stack);
    if (n > 0 && PyList_GET_ITEM(st->stack, n - 1) == code) {
        /* list.pop() without its shrink check: the slot is reused by the next push */
        Py_SET_SIZE(st->stack, n - 1);
        Py_DECREF(code);
        return 0;
    }
    return ps_resync_pop(st, code);
}

/* ---- Tracker (_probe_tracker.c) -------------------------------------------------------- */

enum { MODE_MONITORING, MODE_TRACE, MODE_PROFILE };

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

PS_INTERNAL extern PyTypeObject ps_Tracker_Type;
PS_INTERNAL extern PyObject *ps_threading_local; /* threading.local, set by module init */

/* The calling thread's state; with ``create`` 0, NULL without an error if it has none. */
PS_INTERNAL ThreadState *ps_state_slow(Tracker *self, uint64_t id, int create);

/* An error happened in the probe's own work (an exception is set). Returns 0 when it was
 * dealt with (RecursionError skipped, other Exceptions handed to Recorder.fail), -1 when
 * it must go on into the program (a BaseException such as KeyboardInterrupt). */
PS_INTERNAL int ps_report_error(Tracker *self, const char *where);

static inline ThreadState *
ps_thread_state(Tracker *self, int create)
{
    /* a PyThreadState id is never reused in an interpreter, unlike the struct's address */
    uint64_t id = PyThreadState_GetID(PyThreadState_Get());
    if (self->cached != NULL && self->cached_id == id) {
        return self->cached;
    }
    return ps_state_slow(self, id, create);
}

/* Call a slow path with ``n`` arguments; 0, or -1 with an exception set. */
static inline int
ps_call_slow(PyObject *fn, PyObject *const *args, size_t n)
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
ps_push_code(Tracker *self, ThreadState *st, PyObject *code, Py_ssize_t ix)
{
    Py_ssize_t n = PyList_GET_SIZE(st->stack);
    Entry *e = ps_entry_of(st, ix);
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
        int rc = ps_call_slow(self->new_peak, args, 3);
        Py_DECREF(d);
        if (rc < 0) {
            return -1;
        }
        /* recorded once new_peak returned; ``e`` may have moved while Python code ran */
        st->entries[ix].peak = depth;
    }
    return 0;
}

/* ---- the Tracker's callbacks -----------------------------------------------------------
 * sys.monitoring (_probe_monitoring.c), METH_FASTCALL methods of the Tracker. */

PS_INTERNAL PyObject *ps_Tracker_push(Tracker *self, PyObject *const *args,
                                      Py_ssize_t nargs);
PS_INTERNAL PyObject *ps_Tracker_pop(Tracker *self, PyObject *const *args,
                                     Py_ssize_t nargs);
PS_INTERNAL PyObject *ps_Tracker_unwind(Tracker *self, PyObject *const *args,
                                        Py_ssize_t nargs);
PS_INTERNAL PyObject *ps_Tracker_raise(Tracker *self, PyObject *const *args,
                                       Py_ssize_t nargs);
PS_INTERNAL PyObject *ps_Tracker_reraise(Tracker *self, PyObject *const *args,
                                         Py_ssize_t nargs);
PS_INTERNAL PyObject *ps_Tracker_handled(Tracker *self, PyObject *const *args,
                                         Py_ssize_t nargs);

#if TRACE_FUNCTIONS
/* Trace and profile functions, CPython 3.11 (_probe_trace.c): the Tracker's tp_call, and
 * the module init's setup of the event names; 0, or -1 with an exception set. */
PS_INTERNAL PyObject *ps_Tracker_call(Tracker *self, PyObject *args, PyObject *kwds);
PS_INTERNAL int ps_trace_init(void);
#endif

#endif /* CHAOSKIT_PROBE_SPEEDUPS_H */
