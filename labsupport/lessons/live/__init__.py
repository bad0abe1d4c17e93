"""Lesson 09: changing a live system without dropping a request.

``load`` keeps a steady stream of requests going and draws its timeline with the moments something
changed; ``servers`` reads a backend's servers from the stats (state, sessions, address); ``deploy`` rolls
a new version over a fleet through the runtime API (drain, maint, restart, ready), and the naive way for
comparison; ``deploywidget`` shows it live; ``sticky`` plays browsers that keep their server's cookie;
``canary`` sends a share of the traffic to one server by weights; ``bluegreen`` switches all of it between
two backends with one line of a map; ``exercises`` checks a zero-failure rollout.
"""
