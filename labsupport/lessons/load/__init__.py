"""Lesson 06, algorithms under load: the open-loop load generator, the experiments, their charts and
the slow-server exercise."""
