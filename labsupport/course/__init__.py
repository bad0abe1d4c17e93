"""What two or more lessons use: the fleet of application servers, real HAProxy beside the engine, config
edits, traffic, the log reader, the environment, the exercise framework and the display pieces.

Imports nothing from ``labsupport.lessons``; ``tests/test_layout.py`` checks that.
"""
