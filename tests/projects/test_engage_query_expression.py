"""The engage query's `where` language: every construct, precedence, and every refusal with the
place where parsing failed; generated text never raises anything but ExpressionError."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.engage_query.expression import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    AllOf,
    AnyOf,
    Comparison,
    Defined,
    ExpressionError,
    Literal,
    Not,
    Property,
    ToBoolean,
    expression_parse,
)
from tests.projects.engage_query_support import expression_text, expressions

A, B, C = Property("a"), Property("b"), Property("c")


def number(text: str) -> Literal:
    return Literal(Decimal(text))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('properties["a"]', A),
        ("properties['a']", A),
        ('user["$email"]', Property("$email")),
        ('  properties [ "a b" ]  ', Property("a b")),
        ('properties[""]', Property("")),
        ('"text"', Literal("text")),
        (r'"say \"hi\"\n\t\\ \/ \u00e9 \ud83d\ude00"', Literal('say "hi"\n\t\\ / é 😀')),
        (r"'single \' quote'", Literal("single ' quote")),
        ("12", number("12")),
        ("0", number("0")),
        ("-3", number("-3")),
        ("-0.5", number("-0.5")),
        ("1.25e3", number("1250")),
        ("2E-2", number("0.02")),
        ("true", Literal(True)),
        ("false", Literal(False)),
        ('properties["a"] == "x"', Comparison("==", A, Literal("x"))),
        ('properties["a"] != "x"', Comparison("!=", A, Literal("x"))),
        ('properties["a"] < 1', Comparison("<", A, number("1"))),
        ('properties["a"] > 1', Comparison(">", A, number("1"))),
        ('properties["a"] <= 1', Comparison("<=", A, number("1"))),
        ('properties["a"] >= 1', Comparison(">=", A, number("1"))),
        ('properties["a"]>=-1', Comparison(">=", A, number("-1"))),
        ('"x" == properties["a"]', Comparison("==", Literal("x"), A)),
        ('properties["a"] == properties["b"]', Comparison("==", A, B)),
        ('defined(properties["a"])', Defined(A)),
        ('not defined(properties["a"])', Not(Defined(A))),
        ('boolean(properties["a"])', ToBoolean(A)),
        (
            '(boolean(properties["$email"]) == true)',
            Comparison("==", ToBoolean(Property("$email")), Literal(True)),
        ),
        ('properties["a"] and properties["b"]', AllOf((A, B))),
        ('properties["a"] or properties["b"]', AnyOf((A, B))),
        ('not properties["a"]', Not(A)),
        ('not not properties["a"]', Not(Not(A))),
        ('(properties["a"])', A),
        ('((properties["a"]))', A),
    ],
)
def test_each_construct_parses_to_its_tree(text, tree):
    assert expression_parse(text) == tree


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        # or binds loosest, then and, then not, then comparisons.
        (
            'properties["a"] or properties["b"] and properties["c"]',
            AnyOf((A, AllOf((B, C)))),
        ),
        (
            'properties["a"] and properties["b"] or properties["c"]',
            AnyOf((AllOf((A, B)), C)),
        ),
        ('not properties["a"] and properties["b"]', AllOf((Not(A), B))),
        ('not properties["a"] == 1', Not(Comparison("==", A, number("1")))),
        (
            'properties["a"] == 1 and properties["b"] != 2',
            AllOf((Comparison("==", A, number("1")), Comparison("!=", B, number("2")))),
        ),
        (
            '(properties["a"] or properties["b"]) and properties["c"]',
            AllOf((AnyOf((A, B)), C)),
        ),
        ('not (properties["a"] or properties["b"])', Not(AnyOf((A, B)))),
        # Chains stay flat, so a long one is not a deep tree.
        (
            'properties["a"] or properties["b"] or properties["c"]',
            AnyOf((A, B, C)),
        ),
        (
            'properties["a"] and properties["b"] and properties["c"]',
            AllOf((A, B, C)),
        ),
        (
            '(properties["a"] == 1) == (properties["b"] == 2)',
            Comparison("==", Comparison("==", A, number("1")), Comparison("==", B, number("2"))),
        ),
    ],
)
def test_precedence(text, tree):
    assert expression_parse(text) == tree


@pytest.mark.parametrize(
    ("text", "message", "character"),
    [
        ("", "the expression is empty", 1),
        ("   ", "the expression is empty", 1),
        ('properties["a"] = 1', "use == to compare", 17),
        ('properties["a"] ==', "expected a value, found the end of the expression", 19),
        ('properties["a"] == 1 )', "unexpected ')'", 22),
        ("properties[a]", "expected a property name in quotes, found 'a'", 12),
        ("properties", "expected '[' after properties, found the end of the expression", 11),
        (
            'properties["a"',
            "expected ']' after the property name, found the end of the expression",
            15,
        ),
        ("properties[1]", "expected a property name in quotes, found '1'", 12),
        ('(properties["a"]', "expected ')', found the end of the expression", 17),
        ('defined properties["a"]', "expected '(' after defined, found 'properties'", 9),
        ('boolean(properties["a"]', "expected ')', found the end of the expression", 24),
        ('"abc', "unterminated string", 1),
        (r'"\q"', "unknown escape in string", 2),
        (r'"\u12"', "\\u needs four hexadecimal digits", 2),
        (r'"\ud800"', "the string holds an unpaired surrogate", 1),
        (r'"\u0000"', "the string holds a NUL character", 1),
        ('properties["\x00"]', "the string holds a NUL character", 12),
        ("01", "a number cannot start with 0", 1),
        ("1.", "malformed number", 1),
        ("1.5.2", "malformed number", 1),
        ("1e", "malformed number", 1),
        ("12abc", "malformed number", 1),
        ("1e301", "the number is out of range", 1),
        ("1" * 41, "a number longer than 40 characters", 1),
        ("1 == 2 == 3", "comparisons cannot be chained: use and", 8),
        ('properties["a"] + 1', "arithmetic is not supported", 17),
        ("-", "arithmetic is not supported", 1),
        ('-properties["a"]', "arithmetic is not supported", 1),
        ('properties["a"] in ["x"]', "the operator 'in' is not supported", 17),
        ('number(properties["a"]) > 1', "the typecast number() is not supported", 1),
        ('string(properties["a"])', "the typecast string() is not supported", 1),
        ('properties["a"] == null', "null (use defined()) is not supported", 20),
        ("foo", "unknown word 'foo'", 1),
        ("AND", "unknown word 'AND'", 1),
        ("True", "unknown word 'True'", 1),
        ("and", "expected a value, found 'and'", 1),
        ('properties["a"] && true', "unexpected '&': use and, or, not", 17),
        ('!defined(properties["a"])', "unexpected '!': use and, or, not", 1),
        ("#", "unexpected character '#'", 1),
        ("true\x00", "unexpected character U+0000", 5),
        ('"a" "b"', "unexpected '\"b\"'", 5),
        ("[1]", "expected a value, found '['", 1),
    ],
)
def test_a_bad_expression_says_what_and_where(text, message, character):
    with pytest.raises(ExpressionError) as raised:
        expression_parse(text)
    assert str(raised.value) == f"{message} at character {character}"
    assert raised.value.position == character - 1


def test_nesting_is_bounded():
    deep = "(" * MAX_DEPTH + "true" + ")" * MAX_DEPTH
    assert expression_parse(deep) == Literal(True)
    with pytest.raises(ExpressionError, match=f"nested deeper than {MAX_DEPTH} levels"):
        expression_parse("(" + deep + ")")
    with pytest.raises(ExpressionError, match=f"nested deeper than {MAX_DEPTH} levels"):
        expression_parse("not " * (MAX_DEPTH + 1) + "true")
    with pytest.raises(ExpressionError, match=f"nested deeper than {MAX_DEPTH} levels"):
        expression_parse("boolean(" * (MAX_DEPTH + 1) + "true" + ")" * (MAX_DEPTH + 1))


def test_size_is_bounded():
    # MAX_NODES - 1 literals and the `or` that holds them.
    terms = " or ".join(["true"] * (MAX_NODES - 1))
    assert len(expression_parse(terms).operands) == MAX_NODES - 1
    with pytest.raises(ExpressionError, match=f"more than {MAX_NODES:,} terms"):
        expression_parse(" or ".join(["true"] * (MAX_NODES + 1)))
    with pytest.raises(ExpressionError, match=f"longer than {MAX_LENGTH:,} characters"):
        expression_parse('"' + "x" * MAX_LENGTH + '"')


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_with_a_position(text):
    try:
        expression_parse(text)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)


FRAGMENTS = [
    'properties["a"]',
    "user['b']",
    '"x"',
    "'\\u00e9'",
    "1",
    "-2.5e3",
    "true",
    "false",
    "and",
    "or",
    "not",
    "(",
    ")",
    "[",
    "]",
    "==",
    "!=",
    "<",
    ">=",
    "defined(",
    "boolean(",
    "in",
    "=",
    "-",
    '"',
    "\\",
    "01",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.sampled_from([" ", ""]))
def test_near_grammatical_text_parses_or_is_refused(fragments, separator):
    text = separator.join(fragments)
    try:
        expression_parse(text)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_a_printed_tree_parses_back_to_itself(tree):
    assert expression_parse(expression_text(tree)) == tree
