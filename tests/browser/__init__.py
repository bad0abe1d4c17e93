"""The course tested in a real browser: JupyterLab driven by Playwright through Debian's Chromium.

A package, so that its ``selectors`` module never shadows the standard library's.
"""
