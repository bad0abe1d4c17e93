"""Lesson 07, the edge: one address for many services (routing by what a request asks for), and HTTPS."""
