"""Lesson 01, DNS round robin: a local DNS server (``server``), the queries a student sends (``client``)
and the rotation exercise (``exercises``)."""
