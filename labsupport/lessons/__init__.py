"""One package per lesson, named for its subject: its experiments, charts, widgets and exercise checks.

A lesson never imports another lesson; what two lessons share lives in ``labsupport.course``.
"""
