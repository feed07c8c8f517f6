/* The probe's C accelerator: the Tracker type, one probe backend's scope and callbacks (see
 * the overview at the top of _probe_speedups.c), and its core: the calling thread's state
 * and the handling of the probe's own errors. The struct and the hot paths (ps_push_code,
 * ps_thread_state) are in _probe_speedups.h; the callbacks are in _probe_monitoring.c and
 * _probe_trace.c. */

#include "_probe_speedups.h"

static const char *const mode_names[] = {"monitoring", "trace", "profile"};

PyObject *ps_threading_local; /* threading.local */

/* ps_thread_state's slow path: the thread is not the cached one. */
ThreadState *
ps_state_slow(Tracker *self, uint64_t id, int create)
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
        st = PyObject_CallOneArg((PyObject *)&ps_ThreadState_Type, ident);
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
    else if (!PyObject_TypeCheck(st, &ps_ThreadState_Type)) {
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
int
ps_report_error(Tracker *self, const char *where)
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
    self->local = PyObject_CallNoArgs(ps_threading_local);
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
    ps_index_free(&self->index);
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
    if (self->codes == NULL || ps_index_get(&self->index, code) >= 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t ix = PyList_GET_SIZE(self->codes);
    if (PyList_Append(self->codes, code) < 0) {
        return NULL;
    }
    if (ps_index_add(&self->index, code, ix) < 0) {
        /* keep the list and the index in step */
        PyList_SetSlice(self->codes, ix, ix + 1, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Tracker_state(Tracker *self, PyObject *Py_UNUSED(ignored))
{
    ThreadState *st = ps_thread_state(self, 1);
    return st == NULL ? NULL : Py_NewRef((PyObject *)st);
}


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
    {"push", (PyCFunction)(void (*)(void))ps_Tracker_push, METH_FASTCALL,
     PyDoc_STR("sys.monitoring PY_START/PY_RESUME/PY_THROW callback.")},
    {"pop", (PyCFunction)(void (*)(void))ps_Tracker_pop, METH_FASTCALL,
     PyDoc_STR("sys.monitoring PY_RETURN/PY_YIELD callback.")},
    {"unwind", (PyCFunction)(void (*)(void))ps_Tracker_unwind, METH_FASTCALL,
     PyDoc_STR("sys.monitoring PY_UNWIND callback.")},
    {"raise_", (PyCFunction)(void (*)(void))ps_Tracker_raise, METH_FASTCALL,
     PyDoc_STR("sys.monitoring RAISE callback.")},
    {"reraise", (PyCFunction)(void (*)(void))ps_Tracker_reraise, METH_FASTCALL,
     PyDoc_STR("sys.monitoring RERAISE callback.")},
    {"handled", (PyCFunction)(void (*)(void))ps_Tracker_handled, METH_FASTCALL,
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

PyTypeObject ps_Tracker_Type = {
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
    .tp_call = (ternaryfunc)ps_Tracker_call,
#endif
    .tp_methods = Tracker_methods,
    .tp_getset = Tracker_getset,
};

