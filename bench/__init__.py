"""Benchmarks: how many terminals one server carries, against the framework's own ceiling.

``python -m bench`` (``make bench``) builds a database at realistic scale, serves
both apps under gunicorn with the settings of their ``gunicorn.conf.py``, and
measures each page that matters with wrk, next to two references on the same
machine: a bare Flask + Jinja page and nginx serving a static file. It also runs
a terminal model (N terminals, each with its own session, a page every T seconds)
and, once the commissary exists, the order placement rate. Figures are printed
and written to ``bench/results/``; the benchmark never fails because a machine
is slow.
"""
