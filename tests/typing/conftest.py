# tour.py is a script for the type checker (and for `python tour.py`), run by
# tests/test_typing.py in subprocesses; pytest does not import it (its
# --doctest-modules would, and with it torch and dask at collection time).
collect_ignore = ["tour.py"]
