"""
The one thing setup.cfg cannot declare: logd's C accelerator for syslog
(logd/_fastsyslog.pyx, compiled by Cython).  It is optional: without a C
compiler logd installs and runs on the pure-Python path, only slower
(tests/unit/test_fastsyslog.py says so loudly).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("logd._fastsyslog", ["logd/_fastsyslog.pyx"], optional=True)])
