/* The probe's C accelerator: the sys.monitoring callbacks (3.12+), methods of the Tracker.
 *
 * Signatures as sys.monitoring calls them: (code, offset) for PY_START, PY_RESUME and
 * PY_THROW (plus exc), (code, offset, value-or-exc) for the others. PY_START, PY_RESUME,
 * PY_RETURN and PY_YIELD are local events on the code in scope; the exception events are
 * global and leave at once for code outside the scope. */

#include "_probe_speedups.h"

static PyObject *
after_error(Tracker *self, const char *where)
{
    if (ps_report_error(self, where) < 0) {
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
PyObject *
ps_Tracker_push(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 1, "push") < 0) {
        return NULL;
    }
    PyObject *code = args[0];
    Py_ssize_t ix = ps_index_get(&self->index, code);
    if (ix < 0) {
        Py_RETURN_NONE;
    }
    ThreadState *st = ps_thread_state(self, 1);
    if (st == NULL || ps_push_code(self, st, code, ix) < 0) {
        return after_error(self, "sys.monitoring push");
    }
    Py_RETURN_NONE;
}

/* PY_RETURN and PY_YIELD */
PyObject *
ps_Tracker_pop(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 1, "pop") < 0) {
        return NULL;
    }
    ThreadState *st = ps_thread_state(self, 0);
    if (st == NULL) {
        /* no state yet: a frame that was running before the probe started in this thread */
        return PyErr_Occurred() ? after_error(self, "sys.monitoring pop") : Py_NewRef(Py_None);
    }
    if (ps_pop_code(st, args[0]) < 0) {
        return after_error(self, "sys.monitoring pop");
    }
    if (st->exc != NULL) {
        PyObject *call_args[] = {(PyObject *)st};
        if (ps_call_slow(self->settle, call_args, 1) < 0) {
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
    int found = ps_index_get(&self->index, (PyObject *)code) >= 0;
    Py_DECREF(code);
    Py_DECREF(back);
    return found;
}

/* PY_UNWIND: an in-scope frame exits with an exception */
PyObject *
ps_Tracker_unwind(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 3, "unwind") < 0) {
        return NULL;
    }
    PyObject *code = args[0];
    if (ps_index_get(&self->index, code) < 0) {
        Py_RETURN_NONE;
    }
    ThreadState *st = ps_thread_state(self, 1);
    if (st == NULL || ps_pop_code(st, code) < 0) {
        return after_error(self, "sys.monitoring unwind");
    }
    if (st->exc != NULL) {
        PyObject *call_args[] = {(PyObject *)st, args[2],
                                 caller_in_scope(self) ? Py_True : Py_False};
        if (ps_call_slow(self->unwound, call_args, 3) < 0) {
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
    if (ps_index_get(&self->index, args[0]) < 0) {
        Py_RETURN_NONE;
    }
    ThreadState *st = ps_thread_state(self, 1);
    if (st == NULL) {
        return after_error(self, where);
    }
    PyObject *with[] = {(PyObject *)st, args[0], args[2]};
    PyObject *without[] = {(PyObject *)st, args[2]};
    if (ps_call_slow(method, with_code ? with : without, with_code ? 3 : 2) < 0) {
        return after_error(self, where);
    }
    Py_RETURN_NONE;
}

PyObject *
ps_Tracker_raise(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exception_event(self, args, nargs, self->raised, 1, "sys.monitoring raise");
}

PyObject *
ps_Tracker_reraise(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exception_event(self, args, nargs, self->reraised, 0, "sys.monitoring reraise");
}

PyObject *
ps_Tracker_handled(Tracker *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exception_event(self, args, nargs, self->handled, 1,
                           "sys.monitoring exception handled");
}
