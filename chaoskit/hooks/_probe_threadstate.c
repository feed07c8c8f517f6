/* The probe's C accelerator: the ThreadState type, one thread's view (see the overview at
 * the top of _probe_speedups.c). Its struct and the hot paths on it (ps_entry_of,
 * ps_pop_code) are in _probe_speedups.h. */

#include "_probe_speedups.h"

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

/* A frame of ``code`` left that is not on top: drop it and anything above it, if it is
 * known (probe_state.ThreadState.resync_pop). 0, or -1 with an exception set. */
int
ps_resync_pop(ThreadState *st, PyObject *code)
{
    for (Py_ssize_t pos = PyList_GET_SIZE(st->stack) - 1; pos >= 0; pos--) {
        if (PyList_GET_ITEM(st->stack, pos) == code) {
            return PyList_SetSlice(st->stack, pos, PyList_GET_SIZE(st->stack), NULL);
        }
    }
    return 0;
}

static PyObject *
ThreadState_resync_pop(ThreadState *self, PyObject *code)
{
    if (ps_resync_pop(self, code) < 0) {
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

PyTypeObject ps_ThreadState_Type = {
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
