"""Lesson 05, monitoring: stats from outside, latency windows, the live dashboard and the incident."""
