"""Lesson 08, state at the balancer: sticky sessions (cookies, stick tables) and stick tables as counters."""
