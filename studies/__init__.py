"""The studies shipped with boundcheck, installed as the package ``boundcheck.studies``.

One module per study; each defines ``STUDY``, a :class:`boundcheck.study.Study`. Modules whose names start
with an underscore are helpers, not studies.
"""
