"""Builds the optional C hot loop and flow layout, hikscan.passive._fastloop (metadata: pyproject.toml).

`optional=True`: where no C compiler or Python headers exist the install goes on without it, and
hikscan.passive.pipeline uses its pure-Python loop (the same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("hikscan.passive._fastloop", ["hikscan/passive/_fastloop.c"], optional=True),
    ]
)
