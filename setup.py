"""The probe's C accelerator; everything else about the package is in pyproject.toml.

The extension is optional: without a compiler (or Python headers) the build says so and
goes on, and the probe runs its pure-Python core (chaoskit/hooks/probe_core.py). Editable
installs (``pip install -e .``, as ``make install`` does) build it in place, one file per
Python (``_probe_speedups.cpython-311-x86_64-linux-gnu.so``, ...), which coexist.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chaoskit.hooks._probe_speedups",
            # one concern a file (the map is at the top of _probe_speedups.c)
            sources=[
                "chaoskit/hooks/_probe_speedups.c",
                "chaoskit/hooks/_probe_index.c",
                "chaoskit/hooks/_probe_threadstate.c",
                "chaoskit/hooks/_probe_tracker.c",
                "chaoskit/hooks/_probe_monitoring.c",
                "chaoskit/hooks/_probe_trace.c",
            ],
            # their shared private header: a change to it rebuilds them all
            depends=["chaoskit/hooks/_probe_speedups.h"],
            optional=True,
        )
    ],
    # Editable installs put the project directory on sys.path with a .pth file, as hatchling
    # did, rather than setuptools' import hook, which type checkers (mypy on code that uses
    # chaoskit from elsewhere) and other static tools cannot follow.
    options={"editable_wheel": {"mode": "compat"}},
)
