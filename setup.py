"""Build the optional C accelerator of the log call (nglogger/_speedups.c).

Everything else is in pyproject.toml. The extension is optional: where it cannot be
compiled (no compiler, another Python implementation) the install goes on without it,
and nglogger runs its pure-Python log call, which writes the same bytes
(tests/test_speedups.py). ``NGLOGGER_BUILD_PURE=1`` skips it on purpose.
"""

import os
import platform
import sysconfig

from setuptools import Extension, setup

_PURE = (
    os.environ.get("NGLOGGER_BUILD_PURE", "") not in {"", "0"}
    or platform.python_implementation() != "CPython"
    # free-threaded CPython: the extension relies on the GIL (its millisecond cache)
    or bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
)

setup(
    ext_modules=[]
    if _PURE
    else [
        Extension(
            "nglogger._speedups",
            sources=["nglogger/_speedups.c"],
            optional=True,
        )
    ]
)
