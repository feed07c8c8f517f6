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
 *
 * Files (one concern each; _probe_speedups.h holds what they share):
 *
 * _probe_speedups.c     this overview and the module's init
 * _probe_index.c        the code index (code object -> small integer, by identity)
 * _probe_threadstate.c  the ThreadState type
 * _probe_tracker.c      the Tracker type and its core (the thread's state, errors)
 * _probe_monitoring.c   the sys.monitoring callbacks (3.12+)
 * _probe_trace.c        the trace and profile functions (CPython 3.11 only)
 */

#include "_probe_speedups.h"

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chaoskit.hooks._probe_speedups",
    .m_doc = PyDoc_STR("The probe's hot paths in C (optional; see probe_core.py)."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__probe_speedups(void)
{
    if (PyType_Ready(&ps_ThreadState_Type) < 0 || PyType_Ready(&ps_Tracker_Type) < 0) {
        return NULL;
    }
    if (ps_threading_local == NULL) {
        PyObject *threading = PyImport_ImportModule("threading");
        if (threading == NULL) {
            return NULL;
        }
        ps_threading_local = PyObject_GetAttrString(threading, "local");
        Py_DECREF(threading);
        if (ps_threading_local == NULL) {
            return NULL;
        }
    }
#if TRACE_FUNCTIONS
    if (ps_trace_init() < 0) {
        return NULL;
    }
#endif
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "ThreadState", (PyObject *)&ps_ThreadState_Type) < 0 ||
        PyModule_AddObjectRef(m, "Tracker", (PyObject *)&ps_Tracker_Type) < 0 ||
        PyModule_AddObjectRef(m, "TRACE_FUNCTIONS", TRACE_FUNCTIONS ? Py_True : Py_False) <
            0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
