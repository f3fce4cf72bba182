"""The rule production settings apply to their keys (issue 15, finding 8; DESIGN section 9).

SECRET_KEY signs sessions, password-reset and download links; PRIVACY_AUDIT_KEY chains the audit
trail; PRIVACY_PII_KEY replaces distinct_ids with HMACs; PRIVACY_LOOKUP_KEY finds a project from
its API secret. Each must be a random value of its own: one leaked or guessed value must not
open the others. No test tells a random string from a chosen one for sure; this rule refuses
what is plainly not random, and costs nothing to meet with
`python -c "import secrets; print(secrets.token_urlsafe(48))"`:

- at least 32 characters;
- at least 90 bits by a simple estimate: length × the Shannon entropy of the characters'
  frequencies ('a'*40 has 0 bits, 'ab'*20 40; a key from secrets.token_urlsafe(32) about 200,
  Django's get_random_secret_key() about 250). The estimate undercounts short random keys: 32
  random hex digits (128 bits) estimate 96 to 126, so the bar sits below them;
- no repeated run: at least 90 % of its 3-character windows differ (refuses 'abcdefghij'*4);
- no walk: at most half of the neighbouring characters are equal or next to each other in code
  points (refuses 'abcdefgh…' and '01234567…').
"""

import math
from collections import Counter

MIN_LENGTH = 32
MIN_ESTIMATED_BITS = 90
MIN_DISTINCT_WINDOWS = 0.9
MAX_STEP_PAIRS = 0.5


def estimated_bits(value: str) -> float:
    """length × the Shannon entropy (bits per character) of the characters' frequencies."""
    counts = Counter(value)
    total = len(value)
    per_character = sum(-(count / total) * math.log2(count / total) for count in counts.values())
    return total * per_character


def key_weakness(value: str) -> str | None:
    """Why the value is no acceptable key, or None if it is one."""
    if len(value) < MIN_LENGTH:
        return f"it has {len(value)} characters, fewer than {MIN_LENGTH}"
    bits = estimated_bits(value)
    if bits < MIN_ESTIMATED_BITS:
        return (
            f"its characters carry about {bits:.0f} bits of entropy, fewer than "
            f"{MIN_ESTIMATED_BITS}"
        )
    windows = [value[index : index + 3] for index in range(len(value) - 2)]
    if len(set(windows)) < MIN_DISTINCT_WINDOWS * len(windows):
        return "it repeats the same run of characters"
    steps = sum(abs(ord(a) - ord(b)) <= 1 for a, b in zip(value, value[1:], strict=False))
    if steps > MAX_STEP_PAIRS * (len(value) - 1):
        return "it walks through neighbouring characters"
    return None


def keys_problems(keys: dict[str, str]) -> list[str]:
    """What is wrong with the keys, each problem a sentence naming the setting; empty if none."""
    problems = []
    for name, value in keys.items():
        weakness = key_weakness(value)
        if weakness is not None:
            problems.append(
                f"{name} looks guessable ({weakness}): set it to a random value, e.g. the output "
                'of python -c "import secrets; print(secrets.token_urlsafe(48))".'
            )
    names = list(keys)
    for index, name in enumerate(names):
        for other in names[index + 1 :]:
            if keys[name] == keys[other]:
                problems.append(
                    f"{name} and {other} have the same value: each key must be a random value "
                    "of its own, so that one leaked key opens nothing else."
                )
    return problems
