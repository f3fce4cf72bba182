"""The `where` expression of the engage query: the common subset of Mixpanel's segmentation
expressions that its clients send.

    properties["x"]  user["x"]            a profile property (JSON null counts as undefined)
    "text"  'text'  12  -3.5e2  true  false   literals (JSON escapes inside strings)
    ==  !=  <  >  <=  >=                   comparisons
    not  and  or  ( )                      logic, lowest precedence last: or < and < not
    defined(e)  boolean(e)                 presence, and the typecast to a boolean

A small hand-written tokenizer and a recursive-descent parser turn the text into a tree of the
node classes below; nothing is ever evaluated as code. Input is bounded (length, nesting,
number of nodes, size of number literals) so that hostile text costs little, and every refusal
is an `ExpressionError` that says what went wrong and at which character.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_LENGTH = 10_000
MAX_DEPTH = 32
MAX_NODES = 1_000
_MAX_NUMBER_LENGTH = 40
_MAX_EXPONENT = 300

_WHITESPACE = " \t\r\n"
_DIGITS = "0123456789"
_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_REST = _NAME_START + _DIGITS
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_KEYWORDS = ("and", "or", "not", "true", "false", "defined", "boolean", "properties", "user")
_UNSUPPORTED = {
    "in": "the operator 'in'",
    "number": "the typecast number()",
    "string": "the typecast string()",
    "datetime": "datetime()",
    "floor": "floor()",
    "round": "round()",
    "ceil": "ceil()",
    "null": "null (use defined())",
    "undefined": "undefined (use defined())",
}


class ExpressionError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at character {position + 1}")
        self.position = position


# The tree. Scalars are str, bool and Decimal (exact, as PostgreSQL's numeric).
Scalar = str | bool | Decimal


@dataclass(frozen=True, slots=True)
class Property:
    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: Scalar


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str  # one of _COMPARISONS
    left: "Node"
    right: "Node"


@dataclass(frozen=True, slots=True)
class AllOf:
    """`and` of two or more operands (kept flat, so a long chain is not a deep tree)."""

    operands: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """`or` of two or more operands."""

    operands: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Node"


@dataclass(frozen=True, slots=True)
class Defined:
    operand: "Node"


@dataclass(frozen=True, slots=True)
class ToBoolean:
    operand: "Node"


Node = Property | Literal | Comparison | AllOf | AnyOf | Not | Defined | ToBoolean


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string", "number", "name", "op", "end", or the punctuation itself
    text: str
    position: int
    value: Scalar = ""


def expression_parse(text: str) -> Node:
    """The tree of a `where` expression; raises ExpressionError."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH:,} characters", 0)
    return _Parser(_tokenize(text)).parse()


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            tokens.append(_Token("end", "", position))
            return tokens
        char = text[position]
        if char in "\"'":
            token, position = _string(text, position)
        elif char in _DIGITS or (char == "-" and _is(text, position + 1, _DIGITS)):
            token, position = _number(text, position)
        elif char in _NAME_START:
            end = position + 1
            while end < len(text) and text[end] in _NAME_REST:
                end += 1
            token = _Token("name", text[position:end], position)
            position = end
        elif text.startswith(_COMPARISONS, position):
            operator = next(op for op in _COMPARISONS if text.startswith(op, position))
            token = _Token("op", operator, position)
            position += len(operator)
        elif char in "()[],":
            token = _Token(char, char, position)
            position += 1
        elif char == "=":
            raise ExpressionError("use == to compare", position)
        elif char in "+-*/%":
            raise ExpressionError("arithmetic is not supported", position)
        elif char in "&|!":
            raise ExpressionError(f"unexpected {char!r}: use and, or, not", position)
        else:
            raise ExpressionError(f"unexpected character {_shown(char)}", position)
        tokens.append(token)
        if len(tokens) > MAX_NODES * 4:
            raise ExpressionError("the expression is too long", position)


def _is(text: str, position: int, chars: str) -> bool:
    return position < len(text) and text[position] in chars


def _shown(char: str) -> str:
    return repr(char) if char.isprintable() else f"U+{ord(char):04X}"


def _string(text: str, start: int) -> tuple[_Token, int]:
    quote = text[start]
    parts: list[str] = []
    position = start + 1
    while True:
        if position >= len(text):
            raise ExpressionError("unterminated string", start)
        char = text[position]
        if char == quote:
            break
        if char != "\\":
            parts.append(char)
            position += 1
            continue
        escape = text[position + 1 : position + 2]
        if escape in _ESCAPES:
            parts.append(_ESCAPES[escape])
            position += 2
        elif escape == "u":
            digits = text[position + 2 : position + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ExpressionError("\\u needs four hexadecimal digits", position)
            parts.append(chr(int(digits, 16)))
            position += 6
        else:
            raise ExpressionError("unknown escape in string", position)
    value = _surrogates_joined("".join(parts), start)
    return _Token("string", text[start : position + 1], start, value), position + 1


def _surrogates_joined(value: str, position: int) -> str:
    # "\ud83d\ude00" is one character, as in JSON; a lone surrogate is no text at all, and
    # PostgreSQL refuses NUL in text and JSON alike, so neither can match a stored value.
    try:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise ExpressionError("the string holds an unpaired surrogate", position) from None
    if "\x00" in value:
        raise ExpressionError("the string holds a NUL character", position)
    return value


def _number(text: str, start: int) -> tuple[_Token, int]:
    # JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    integer = start + 1 if text[start] == "-" else start
    position = _digits(text, integer, start)
    if text[integer] == "0" and position - integer > 1:
        raise ExpressionError("a number cannot start with 0", start)
    if _is(text, position, "."):
        position = _digits(text, position + 1, start)
    if _is(text, position, "eE"):
        position += 1
        if _is(text, position, "+-"):
            position += 1
        position = _digits(text, position, start)
    source = text[start:position]
    if _is(text, position, _NAME_REST + "."):
        raise ExpressionError("malformed number", start)
    if len(source) > _MAX_NUMBER_LENGTH:
        raise ExpressionError(f"a number longer than {_MAX_NUMBER_LENGTH} characters", start)
    try:
        value = Decimal(source)
    except InvalidOperation:  # pragma: no cover - the grammar above admits only numbers
        raise ExpressionError("malformed number", start) from None
    if value and abs(value.adjusted()) > _MAX_EXPONENT:
        raise ExpressionError("the number is out of range", start)
    return _Token("number", source, start, value), position


def _digits(text: str, position: int, start: int) -> int:
    end = position
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    if end == position:
        raise ExpressionError("malformed number", start)
    return end


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.nodes = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", 0)
        node = self._or()
        if self.token.kind != "end":
            raise ExpressionError(f"unexpected {self._described()}", self.token.position)
        return node

    def _node(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"more than {MAX_NODES:,} terms", self.token.position)
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels", self.token.position)

    def _is_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    def _expect(self, kind: str, what: str) -> _Token:
        token = self.token
        if token.kind != kind:
            raise ExpressionError(f"expected {what}, found {self._described()}", token.position)
        self.index += 1
        return token

    def _described(self) -> str:
        token = self.token
        if token.kind == "end":
            return "the end of the expression"
        return repr(token.text if len(token.text) <= 20 else token.text[:20] + "…")

    def _or(self) -> Node:
        operands = [self._and()]
        while self._is_word("or"):
            self.index += 1
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else self._node(AnyOf(tuple(operands)))

    def _and(self) -> Node:
        operands = [self._not()]
        while self._is_word("and"):
            self.index += 1
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else self._node(AllOf(tuple(operands)))

    def _not(self) -> Node:
        if not self._is_word("not"):
            return self._comparison()
        self.index += 1
        self._enter()
        operand = self._not()
        self.depth -= 1
        return self._node(Not(operand))

    def _comparison(self) -> Node:
        left = self._primary()
        if self._is_word("in"):
            raise ExpressionError(f"{_UNSUPPORTED['in']} is not supported", self.token.position)
        if self.token.kind != "op":
            return left
        operator = self.token.text
        self.index += 1
        right = self._primary()
        if self.token.kind == "op":
            raise ExpressionError("comparisons cannot be chained: use and", self.token.position)
        return self._node(Comparison(operator, left, right))

    def _primary(self) -> Node:
        token = self.token
        if token.kind in ("string", "number"):
            self.index += 1
            return self._node(Literal(token.value))
        if token.kind == "(":
            self.index += 1
            self._enter()
            node = self._or()
            self._expect(")", "')'")
            self.depth -= 1
            return node
        if token.kind != "name":
            raise ExpressionError(f"expected a value, found {self._described()}", token.position)
        word = token.text
        if word in ("true", "false"):
            self.index += 1
            return self._node(Literal(word == "true"))
        if word in ("properties", "user"):
            self.index += 1
            self._expect("[", f"'[' after {word}")
            name = self._expect("string", "a property name in quotes")
            self._expect("]", "']' after the property name")
            return self._node(Property(str(name.value)))
        if word in ("defined", "boolean"):
            self.index += 1
            self._expect("(", f"'(' after {word}")
            self._enter()
            operand = self._or()
            self._expect(")", "')'")
            self.depth -= 1
            return self._node(Defined(operand) if word == "defined" else ToBoolean(operand))
        if word in _UNSUPPORTED:
            raise ExpressionError(f"{_UNSUPPORTED[word]} is not supported", token.position)
        if word in _KEYWORDS:
            raise ExpressionError(f"expected a value, found {word!r}", token.position)
        raise ExpressionError(f"unknown word {self._described()}", token.position)
