"""Packages of the distribution (everything else is in pyproject.toml).

``boundcheck*`` is found in the source tree; the top-level ``studies/`` folder is mapped to the package
``boundcheck.studies``, so the shipped studies install with the wheel and import by module name.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["boundcheck", "boundcheck.*"]) + ["boundcheck.studies"],
    package_dir={"boundcheck.studies": "studies"},
)
