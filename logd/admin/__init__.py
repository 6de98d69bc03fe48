"""
Operating a running logd: its figures (L{logd.admin.stats}), served over
HTTP as Prometheus metrics, health and JSON (L{logd.admin.web}), told to
systemd (L{logd.admin.notify}) and read by C{logd status}.
"""
