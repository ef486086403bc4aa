"""dlcourse._lazy_imports: nbformat's jsonschema no longer builds rfc3987_syntax's grammars at import, and an
``iri`` format check still answers as RFC 3987 does."""

import subprocess
import sys

import pytest

PROBE = """
import sys
import dlcourse.notebooks, jsonschema  # nbformat, and so jsonschema, imported as every dlcourse process does
print("loaded" if "rfc3987_syntax.syntax_helpers" in sys.modules else "deferred")
checker = jsonschema.FormatChecker()
print(checker.conforms("http://example.com/\u00e4?q=1#f", "iri"), checker.conforms("no spaces in an iri", "iri"))
print("loaded" if "rfc3987_syntax.syntax_helpers" in sys.modules else "deferred")
"""


def test_rfc3987_syntax_loads_only_when_an_iri_is_checked():
    pytest.importorskip("rfc3987_syntax")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "deferred", "importing dlcourse and nbformat built rfc3987_syntax's grammars (jsonschema#1428)"
    assert out[1] == "True False", "RFC 3987: a non-ASCII path is an IRI, a space is not"
    assert out[2] == "loaded", "the real module answered the iri check"
