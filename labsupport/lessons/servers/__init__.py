"""Lesson 02, application servers: the fleet panel (kill / restart from a widget)."""
