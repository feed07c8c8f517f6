"""chaoskit's bootstrap for child processes of an instrumented program.

``python -m chaoskit.instrument`` puts this directory first on ``PYTHONPATH``. At start-up
this module runs the ``sitecustomize`` that would have run without it, if there is one,
then instruments the process (once: an environment guard holds the pid that did it).
Nothing here may break the child: errors are printed and ignored, and an interpreter
without chaoskit installed is left alone.
"""

import os
import sys


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _activate() -> None:
    if not os.environ.get("CHAOSKIT_INSTRUMENT"):
        return
    try:
        from chaoskit.instrument.child import activate
    except ImportError:
        return  # another interpreter, without chaoskit installed: leave it alone
    try:
        activate()
    except Exception as exc:  # never break the child program
        sys.stderr.write(f"chaoskit: child instrumentation failed: {exc!r}\n")


try:
    _chain()
except Exception as _exc:  # the user's own sitecustomize failed: report as python would
    sys.stderr.write(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{_exc!r}\n")
_activate()
