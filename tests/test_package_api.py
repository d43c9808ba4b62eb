"""The package's public names: every name in ``boundcheck.__all__`` resolves, and the beyond-the-paper modules
load on first use only."""

import subprocess
import sys

import boundcheck as bc


def test_every_public_name_resolves():
    for name in bc.__all__:
        assert getattr(bc, name) is not None, name
    assert set(bc._LAZY) <= set(dir(bc))


def test_lazy_names_are_the_modules_own_objects():
    from boundcheck import deep, deep_lazy, minimal

    modules = {"deep": deep, "deep_lazy": deep_lazy, "minimal": minimal}
    for name, module in bc._LAZY.items():
        assert getattr(bc, name) is getattr(modules[module], name)


def test_unknown_name_is_an_attribute_error():
    try:
        bc.no_such_function
    except AttributeError as exc:
        assert "no_such_function" in str(exc)
    else:  # pragma: no cover - the test fails here
        raise AssertionError("an unknown name must raise AttributeError")


def test_import_does_not_load_the_beyond_modules():
    code = ("import sys, boundcheck; "
            "print(sorted(m for m in ('boundcheck.deep', 'boundcheck.deep_lazy', 'boundcheck.minimal') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
