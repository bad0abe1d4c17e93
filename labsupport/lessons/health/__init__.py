"""Lesson 04, health checks: the state recorder, the live timeline, its charts and the exercises."""
