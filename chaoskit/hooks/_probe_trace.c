/* The probe's C accelerator: trace and profile functions (CPython 3.11).
 *
 * probe_trace.py's settrace and setprofile backends, with the hot paths in C: a call of
 * in-scope code pushes, its return pops. Unlike a Python trace function, a C one sees every
 * event of every frame, so each event checks the scope itself (one index lookup). Line
 * events are switched off in each frame at its call, and switched on again by the Python
 * slow path after an exception (as in the pure-Python backend). */

#include "_probe_speedups.h"

#if TRACE_FUNCTIONS

static PyObject *event_names[8]; /* "call", "exception", ... indexed by PyTrace_* */

/* Intern the event names, once (module init); 0, or -1 with an exception set. */
int
ps_trace_init(void)
{
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
                return -1;
            }
        }
    }
    return 0;
}

static int
leave_thread(Tracker *self)
{
    PyObject *res = PyObject_CallNoArgs(self->leave);
    if (res == NULL) {
        return ps_report_error(self,
                               self->mode == MODE_TRACE ? "settrace call" : "setprofile");
    }
    Py_DECREF(res);
    return 0;
}

/* ``code``'s index in the scope, or -1 (the frame is not watched) */
static inline Py_ssize_t
frame_index(Tracker *self, PyFrameObject *frame, PyObject **code)
{
    *code = (PyObject *)PyFrame_GetCode(frame); /* a new reference: the caller drops it */
    return ps_index_get(&self->index, *code);
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
        ThreadState *st = ps_thread_state(self, 1);
        if (st == NULL || ps_push_code(self, st, code, ix) < 0) {
            rc = ps_report_error(self,
                                 self->mode == MODE_TRACE ? "settrace call" : "setprofile");
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
        ThreadState *st = ps_thread_state(self, 0);
        if (st == NULL) {
            rc = PyErr_Occurred() ? ps_report_error(self, where) : 0;
        }
        else if (ps_pop_code(st, code) < 0) {
            rc = ps_report_error(self, where);
        }
        else if (st->exc != NULL && self->mode == MODE_TRACE) {
            PyObject *args[] = {(PyObject *)st, (PyObject *)frame, arg};
            if (ps_call_slow(self->on_return, args, 3) < 0) {
                rc = ps_report_error(self, where);
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
    ThreadState *st = ps_thread_state(self, 1);
    PyObject *args[] = {(PyObject *)st, (PyObject *)frame, arg};
    if (st == NULL || ps_call_slow(self->on_exception, args, 3) < 0) {
        return ps_report_error(self, "settrace local");
    }
    return 0;
}

static int
on_line(Tracker *self, PyFrameObject *frame)
{
    /* only frames that the slow path switched lines on for, or that were running before
     * the probe started, send lines: the latter are switched off at their first one */
    if (!self->count_lines) {
        ThreadState *st = ps_thread_state(self, 0);
        if (st == NULL && PyErr_Occurred()) {
            return ps_report_error(self, "settrace local");
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
    ThreadState *st = ps_thread_state(self, 1);
    PyObject *args[] = {(PyObject *)st, (PyObject *)frame};
    if (st == NULL || ps_call_slow(self->on_line, args, 2) < 0) {
        return ps_report_error(self, "settrace local");
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
    return ps_call_slow(self->chained, args, 3);
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
PyObject *
ps_Tracker_call(Tracker *self, PyObject *args, PyObject *kwds)
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
