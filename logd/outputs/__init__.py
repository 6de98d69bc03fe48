"""
Outputs: where records go.  A sink (L{sinks}) formats each batch it is
routed (L{formats}: text, JSON, templates), buffers the bytes and writes
them: to files, rotated and reopened, or to standard output.
"""
