"""Lesson 03, configuring the balancer: the live dashboard, its charts and the weights exercise."""
