"""
logd: a logging daemon built on Twisted.

A record's path through the package: an endpoint (L{logd.inputs.listeners}) accepts
bytes, a protocol (L{logd.inputs.protocols}, framing in L{logd.inputs.framing}) cuts them
into a L{logd.records.Batch}, a L{logd.routing.Router} hands the batch to its
sinks, and each sink (L{logd.outputs.sinks}) formats (L{logd.outputs.formats}), buffers and
writes it.  L{logd.service} assembles that from a L{logd.config.Config};
L{logd.tap} is what twistd calls.
"""

__version__ = "0.1.0"
