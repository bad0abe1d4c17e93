"""Lesson 01, DNS round robin: the queries a student sends (``client``) and the rotation exercise
(``exercises``). The DNS server they ask is ``labsupport.course.dnsserver`` (lesson 09 uses it too)."""
