"""Imports deferred to first use, where a dependency's eager import costs every ``dlcourse`` process seconds.

- ``rfc3987_syntax``: jsonschema imports it at import time for its ``iri`` format checker, and it builds
  about 35 Lark grammars as it loads (jsonschema#1428; opendatahub-io/notebooks#3532 measured it). nbformat
  imports jsonschema, so every ``dlcourse check``, every grading process and every grader kernel paid it:
  1.7 s on a quiet 2-core machine, 7 s under load. No notebook schema uses the ``iri`` format. Here the
  module is a stand-in whose ``is_valid_syntax`` (what jsonschema takes from it) and every other attribute
  load the real module on first use, so an ``iri`` check still answers exactly as before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["defer_rfc3987_syntax"]


class _Deferred(types.ModuleType):
    """A module that is imported for real on first attribute access."""

    def _real(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return importlib.import_module(self.__name__)

    def __getattr__(self, attr: str):
        if attr.startswith("__"):  # the import system's own questions (``__path__`` in ``from x import y``)
            raise AttributeError(attr)
        return getattr(self._real(), attr)


def defer_rfc3987_syntax() -> None:
    """Put the stand-in in ``sys.modules`` unless the module is already imported or not installed."""
    name = "rfc3987_syntax"
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    stand_in = _Deferred(name)

    def is_valid_syntax(*args, **kwargs):
        return stand_in._real().is_valid_syntax(*args, **kwargs)

    stand_in.is_valid_syntax = is_valid_syntax
    sys.modules[name] = stand_in
