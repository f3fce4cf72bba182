"""docs/mixpanel-compatibility.md names, for each wire fact, the tests that prove it, as
`tests/<path>.py::<test name>`. Every citation must name a test that exists, so that renaming or
removing a test cannot leave the record pointing at nothing. The test files are read as text and
parsed, never imported."""

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "mixpanel-compatibility.md"
CITATION = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)")
# Every section of the record cites its proofs; far fewer would mean the parser missed them.
MIN_CITATIONS = 150


def citations(text: str) -> set[tuple[str, str]]:
    return set(CITATION.findall(text))


@cache
def defined_tests(path: str) -> frozenset[str]:
    """The tests pytest collects from a file: its module-level `test_*` functions and the
    `test_*` methods of its `Test*` classes."""
    source = ROOT / path
    if not source.is_file():
        return frozenset()
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=path)
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    names = {node.name for node in tree.body if isinstance(node, functions)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names |= {item.name for item in node.body if isinstance(item, functions)}
    return frozenset(name for name in names if name.startswith("test_"))


def test_the_record_cites_its_tests():
    assert len(citations(DOCUMENT.read_text(encoding="utf-8"))) >= MIN_CITATIONS


def test_every_cited_test_exists():
    missing = sorted(
        f"{path}::{name}"
        for path, name in citations(DOCUMENT.read_text(encoding="utf-8"))
        if name not in defined_tests(path)
    )

    assert missing == []


def test_a_citation_of_a_missing_test_or_file_is_caught():
    text = (
        "`tests/test_compatibility_doc.py::test_every_cited_test_exists`, "
        "`tests/test_compatibility_doc.py::test_nothing_by_this_name`, "
        "`tests/no_such_file.py::test_anything`, "
        "`tests/test_compatibility_doc.py::defined_tests`"
    )

    missing = sorted(
        f"{path}::{name}" for path, name in citations(text) if name not in defined_tests(path)
    )

    assert missing == [
        "tests/no_such_file.py::test_anything",
        "tests/test_compatibility_doc.py::defined_tests",
        "tests/test_compatibility_doc.py::test_nothing_by_this_name",
    ]
