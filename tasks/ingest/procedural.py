"""Procedural math problems with exact answers: the demo's offline, leakage-free seed source.
tasks layer: pure functions, no I/O, no Prefect. Contract: generate(spec) deterministically yields
spec.n unique records with exact canonical answers (None for "proof": later stages rewrite or drop).
Opt-in kinds beyond the default math mix: "code" (a Python function task with hidden
check(candidate) tests, domain code) and "choice" (four options, the answer a letter, domain choice)."""
from __future__ import annotations

import ast
import operator
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from math import gcd, isqrt
from typing import Callable, Iterator

GENERATOR_VERSION = "1"
KINDS = ("arithmetic", "linear", "quadratic", "fractions", "word", "system", "proof")
EXTRA_KINDS = ("code", "choice")  # other domains: asked for by name (kinds=...,code,choice)
ALL_KINDS = KINDS + EXTRA_KINDS
_KEYS = ("kinds", "levels", "n", "seed")
_PREFIX = "procedural://"


def _err(msg: str) -> ValueError:
    return ValueError(f"procedural spec: {msg}")


@dataclass(frozen=True)
class ProceduralSpec:
    n: int = 200
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    min_level: int = 1
    max_level: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        for key in ("n", "seed", "min_level", "max_level"):
            if type(getattr(self, key)) is not int:
                raise _err(f"{key} must be an integer, got {getattr(self, key)!r}")
        if self.n < 1:
            raise _err(f"n must be >= 1, got {self.n}")
        if not self.kinds:
            raise _err("kinds must not be empty")
        for kind in self.kinds:
            if kind not in ALL_KINDS:
                raise _err(f"unknown kind {kind!r} (allowed: {', '.join(ALL_KINDS)})")
        if len(set(self.kinds)) != len(self.kinds):
            raise _err(f"duplicate kind in {','.join(self.kinds)!r}")
        if not 1 <= self.min_level <= self.max_level <= 5:
            raise _err(f"levels must satisfy 1 <= LO <= HI <= 5, got {self.min_level}-{self.max_level}")

    @classmethod
    def parse(cls, text: str) -> "ProceduralSpec":
        """Parse "procedural://" or "procedural://?n=500&seed=3&kinds=arithmetic,linear&levels=1-3"."""
        if not isinstance(text, str) or not text.startswith(_PREFIX):
            raise _err(f"must start with {_PREFIX!r}, got {text!r}")
        path, _, query = text[len(_PREFIX):].partition("?")
        if path:
            raise _err(f"unexpected {path!r} after {_PREFIX!r} (expected '?key=value&...')")
        kw: dict = {}
        seen: set[str] = set()
        for part in filter(None, query.split("&")):
            key, eq, val = part.partition("=")
            if not eq:
                raise _err(f"expected key=value, got {part!r}")
            if key not in _KEYS:
                raise _err(f"unknown key {key!r} (allowed: {', '.join(_KEYS)})")
            if key in seen:
                raise _err(f"duplicate key {key!r}")
            seen.add(key)
            if key in ("n", "seed"):
                if not re.fullmatch(r"-?[0-9]+", val):
                    raise _err(f"{key} must be an integer, got {val!r}")
                kw[key] = int(val)
            elif key == "kinds":
                if not val:
                    raise _err("kinds must not be empty")
                kw["kinds"] = tuple(val.split(","))
            else:
                m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", val)
                if not m:
                    raise _err(f"levels must look like '1-3' or '2', got {val!r}")
                kw["min_level"], kw["max_level"] = int(m[1]), int(m[2] or m[1])
        return cls(**kw)

    def to_text(self) -> str:
        return (f"{_PREFIX}?kinds={','.join(self.kinds)}&levels={self.min_level}-{self.max_level}"
                f"&n={self.n}&seed={self.seed}")


# ---------------------------------------------------------------- helpers

def _ensure(ok: bool) -> None:
    if not ok:  # construction invariant; never raised unless the generator is broken
        raise AssertionError("procedural generator produced an inconsistent answer")


def _nz(rng: random.Random, hi: int) -> int:
    v = rng.randint(1, hi)
    return -v if rng.getrandbits(1) else v


def _poly(terms: list[tuple[int, str]]) -> str:
    """[(3, 'x'), (-1, 'y'), (5, '')] -> '3x - y + 5'; '0' when every coefficient is 0."""
    out = ""
    for c, v in terms:
        if c:
            body = v if abs(c) == 1 and v else f"{abs(c)}{v}"
            out = (("-" if c < 0 else "") + body) if not out else out + (" - " if c < 0 else " + ") + body
    return out or "0"


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def _expr(rng: random.Random, ops: int, leaf: Callable[[], Fraction], opset: str):
    """Random expression tree with `ops` operations -> (text, precedence, value), None on 0-division."""
    if ops == 0:
        v = leaf()
        if v < 0:
            return f"({v})", 3, v
        return str(v), (3 if v.denominator == 1 else 1.5), v  # 1.5: "(3/4)" next to * and /
    k = rng.randint(0, ops - 1)
    left, right = _expr(rng, k, leaf, opset), _expr(rng, ops - 1 - k, leaf, opset)
    op = rng.choice(opset)
    if left is None or right is None or (op == "/" and right[2] == 0):
        return None
    p = _PREC[op]
    ls = f"({left[0]})" if left[1] < p else left[0]
    rs = f"({right[0]})" if right[1] < p or (right[1] == p and op in "-/") else right[0]
    a, b = left[2], right[2]
    v = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
    return f"{ls} {op} {rs}", p, v


_NESTED = re.compile(r"\((?!-\d+\))")  # a parenthesis that is not just a negative literal


# ---------------------------------------------------------------- kinds

def _arithmetic(rng: random.Random, level: int, w: int):
    hi = (10, 20, 30, 50, 99)[level - 1] * w

    def leaf() -> Fraction:
        v = rng.randint(1, hi)
        return Fraction(-v if level >= 4 and rng.random() < 0.3 else v)

    while True:
        e = _expr(rng, level, leaf, "+-*")
        if abs(e[2]) <= 10 ** min(level + 1, 5) * w and (level < 4 or _NESTED.search(e[0])):
            return f"Compute {e[0]}.", str(e[2])


def _fractions(rng: random.Random, level: int, w: int):
    ops, dmax = (1, 1, 2, 3, 4)[level - 1], (6, 10, 12, 12, 15)[level - 1] * w
    opset = ("+", "+-", "+-*/", "+-*/", "+-*/")[level - 1]

    def leaf() -> Fraction:
        d = rng.randint(2, dmax)
        num = rng.randint(1, 2 * d - 1)
        f = Fraction(num if num % d else num + 1, d)
        return -f if level == 5 and rng.random() < 0.3 else f

    while True:
        e = _expr(rng, ops, leaf, opset)
        if e is not None and e[2].denominator <= 1000 and abs(e[2].numerator) <= 10 ** 5:
            return f"Compute {e[0]}.", str(e[2])


def _linear(rng: random.Random, level: int, w: int):
    s = 10 * w
    x = Fraction(rng.randint(1, s) if level == 1 else rng.randint(-s, s))
    if level <= 2:
        if level == 1:
            a, b = rng.randint(2, 5 + w), rng.randint(1, 2 * s)
        else:
            a, b = _nz(rng, 9 * w), _nz(rng, 3 * s)
        lhs, rhs = _poly([(a, "x"), (b, "")]), str(a * x + b)
    elif level == 3:
        a, c, b = _nz(rng, 9 * w), _nz(rng, 9 * w), _nz(rng, 3 * s)
        c = c if c != a else a + 1
        lhs, rhs = _poly([(a, "x"), (b, "")]), _poly([(c, "x"), (int(a * x + b - c * x), "")])
    elif level == 4:
        a, b, c = rng.randint(2, 9 * w) * rng.choice((1, -1)), _nz(rng, s), _nz(rng, 9 * w)
        c = c if c != a else a + 1
        lhs = f"{a}({_poly([(1, 'x'), (b, '')])})"
        rhs = _poly([(c, "x"), (int(a * (x + b) - c * x), "")])
    else:  # rational answer: a(x + b) - c(x + d) = ex + f
        a, c = rng.randint(2, 9 * w) * rng.choice((1, -1)), rng.randint(2, 9 * w)
        b, d, f = _nz(rng, s), _nz(rng, s), _nz(rng, 5 * s)
        e = _nz(rng, 9 * w)
        if a - c - e == 0:
            e += 1
        x = Fraction(f - a * b + c * d, a - c - e)
        _ensure(a * (x + b) - c * (x + d) == e * x + f)
        lhs = f"{a}({_poly([(1, 'x'), (b, '')])}) - {c}({_poly([(1, 'x'), (d, '')])})"
        rhs = _poly([(e, "x"), (f, "")])
    return f"Solve for x: {lhs} = {rhs}.", str(x)


def _quadratic(rng: random.Random, level: int, w: int):
    hi = (6, 9, 9, 12, 15)[level - 1] * w
    r1, r2 = sorted(rng.sample(range(1 if level == 1 else -hi, hi + 1), 2))
    a = (1, 1, rng.choice((2, 3, 4, -2, -3, -4)), rng.randint(1, 3), _nz(rng, 5))[level - 1]
    b, c = -a * (r1 + r2), a * r1 * r2
    _ensure(all(a * r * r + b * r + c == 0 for r in (r1, r2)))
    if level <= 3:
        lhs, rhs = _poly([(a, "x^2"), (b, "x"), (c, "")]), "0"
    else:  # add f x^2 + d x + e to both sides (f = 0 at level 4) and move the constant right
        f, d, e = (0 if level == 4 else _nz(rng, 3)), _nz(rng, 9), _nz(rng, 20)
        f = f if f != -a else -2 * a
        lhs = _poly([(a + f, "x^2"), (b + d, "x"), (c + e if level == 5 else 0, "")])
        rhs = _poly([(f, "x^2"), (d, "x"), (e if level == 5 else -c, "")])
    return f"Solve for x: {lhs} = {rhs}.", f"{r1}, {r2}"


def _equation(rng: random.Random, level: int, terms: list[tuple[int, str]]) -> str:
    """Render sum(terms) = 0 as 'LHS = RHS'; higher levels move terms across and add clutter."""
    if level <= 3:
        return f"{_poly(terms[:-1])} = {-terms[-1][0]}"
    if level == 5:
        extra = (_nz(rng, 9), rng.choice(("x", "y", "")))
        terms = [(c + extra[0], v) if v == extra[1] else (c, v) for c, v in terms]
        left, right = terms, [extra]
    else:
        left, right = terms, []
    moved = rng.sample(range(len(left)), rng.randint(1, len(left) - 1))
    return (f"{_poly([t for i, t in enumerate(left) if i not in moved])} = "
            f"{_poly(right + [(-left[i][0], left[i][1]) for i in sorted(moved)])}")


def _system(rng: random.Random, level: int, w: int):
    s, cmax = (9, 9, 15, 15, 20)[level - 1] * w, (5, 7, 12, 12, 15)[level - 1]
    x, y = (rng.randint(1, s), rng.randint(1, s)) if level == 1 else (rng.randint(-s, s), rng.randint(-s, s))
    while True:
        a, b, c, d = (rng.randint(1, cmax) if level == 1 else _nz(rng, cmax) for _ in range(4))
        if a * d - b * c:
            break
    eqs = [_equation(rng, level, [(p, "x"), (q, "y"), (-(p * x + q * y), "")]) for p, q in ((a, b), (c, d))]
    return f"Solve the system of equations: {eqs[0]} and {eqs[1]}.", f"x = {x}, y = {y}"


_NAMES = ("Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hugo", "Isla", "Jamal", "Kenji",
          "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor",
          "Wen", "Yusuf", "Zoe")
_ITEMS = ("pencils", "notebooks", "apples", "oranges", "stickers", "markers", "cookies", "erasers",
          "bananas", "postcards", "candles", "muffins", "rulers", "tickets", "plums", "batteries")
_RIDES = ("car", "train", "bus", "bike", "boat", "scooter", "truck")


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _word(rng: random.Random, level: int, w: int):
    name, other = rng.sample(_NAMES, 2)
    template = rng.randint(0, 2)
    if template == 0:  # shopping
        k = (1, 2, 2, 3, 4)[level - 1]
        buys = [(rng.randint(2, (5 + 2 * level) * w), item, rng.randint(1, (4 + 3 * level) * w))
                for item in rng.sample(_ITEMS, k)]
        total = sum(q * p for q, _, p in buys)
        text = f"{name} buys {_join([f'{q} {it} at ${p} each' for q, it, p in buys])}."
        if level < 3:
            return f"{text} How many dollars does {name} spend in total?", str(total)
        bill = (total // 10 + 1 + rng.randint(0, 5)) * 10
        return f"{text} {name} pays ${bill}. How many dollars of change does {name} get?", str(bill - total)
    if template == 1:  # rates
        legs, dist = [], 0
        for _ in range((1, 2, 2, 3, 4)[level - 1]):
            if level >= 3 and rng.random() < 0.5:
                m = rng.choice((10, 12, 15, 20, 30, 40, 45, 50))
                step = 60 // gcd(m, 60)
                v = step * rng.randint(max(1, 20 // step), (60 + 10 * level) * w // step)
                legs.append(f"at {v} km/h for {m} minutes")
                dist += v * m // 60
            else:
                v, h = 5 * rng.randint(2, (10 + 2 * level) * w), rng.randint(1, 2 + level)
                legs.append(f"at {v} km/h for {h} hour{'s' if h != 1 else ''}")
                dist += v * h
        return (f"{name} travels by {rng.choice(_RIDES)} {', then '.join(legs)}. "
                f"How many kilometers does {name} travel in total?", str(dist))
    if level == 1:  # ages
        a, d = rng.randint(5, 30 * w), rng.randint(1, 20 * w)
        younger = d < a and rng.getrandbits(1)
        rel = "younger" if younger else "older"
        return (f"{name} is {a} years old. {other} is {d} years {rel} than {name}. How old is {other}?",
                str(a - d if younger else a + d))
    if level == 2:
        b, k, y = rng.randint(2, 15 * w), rng.randint(2, 5), rng.randint(1, 20 * w)
        return (f"{name} is {b} years old. {other} is {k} times as old as {name}. "
                f"How old will {other} be in {y} years?", str(k * b + y))
    if level == 3:
        b, d = rng.randint(3, 40 * w), rng.randint(1, 30 * w)
        ask_a = rng.getrandbits(1)
        return (f"The sum of the ages of {name} and {other} is {2 * b + d}. {name} is {d} years older than "
                f"{other}. How old is {name if ask_a else other}?", str(b + d if ask_a else b))
    if level == 4:
        b, k, y = rng.randint(2, 15 * w), rng.randint(2, 6), rng.randint(1, 15 * w)
        return (f"{name} is {k} times as old as {other}. In {y} years, the sum of their ages will be "
                f"{(k + 1) * b + 2 * y}. How old is {name} now?", str(k * b))
    b, m = rng.randint(2, 12 * w), rng.randint(2, 4)
    g = b // gcd(b, m - 1)
    y = g * rng.randint(1, max(1, 2 * b // g))
    k = m + (m - 1) * y // b
    _ensure(k * b + y == m * (b + y))
    return (f"{name} is {k} times as old as {other}. In {y} years, {name} will be {m} times as old as "
            f"{other}. How old is {other} now?", str(b))


_PROOFS = {  # two templates per level; {a}, {b}, {d} are the varied parameters
    1: ("Show that if m and n are odd integers, then {o1}m + {o2}n is even.",
        "Prove that {a1}n(n + 1) is even for every integer n."),
    2: ("Prove that n^2 + {o1}n is even for every integer n.",
        "Show that {a2}^n - 1 is divisible by {a1} for every positive integer n."),
    3: ("Prove that the sum of any {o1} consecutive integers is divisible by {o1}.",
        "Prove that the product of any {a1} consecutive integers is divisible by {a1}!."),
    4: ("Prove that 2^n > n^2 for every integer n >= {a4}.",
        "Prove that sqrt({ns}) is irrational, i.e. not equal to p/q for any integers p, q with q != 0."),
    5: ("Prove that {a} + {ad} + {a2d} + ... + ({a} + {d}(n - 1)) = n({aa} + {d}(n - 1))/2"
        " for every positive integer n.",
        "Prove that {a1}^(2n) - 1 is divisible by {sq} for every positive integer n."),
}


def _proof(rng: random.Random, level: int, w: int):
    w *= w  # one-parameter templates: widen faster on collisions
    a, b, d = rng.randint(1, 40 * w), rng.randint(1, 40 * w), rng.randint(1, 20 * w)
    ns = a + 1 + (isqrt(a + 1) ** 2 == a + 1)  # a non-square
    return rng.choice(_PROOFS[level]).format(
        a=a, d=d, o1=2 * a + 1, o2=2 * b + 1, a1=a + 1, a2=a + 2, a4=a + 4, ns=ns, ad=a + d, a2d=a + 2 * d,
        aa=2 * a, sq=(a + 1) ** 2 - 1), None


_CODE_TASKS = (
    # (function, signature, statement, reference implementation over the argument)
    ("sum_multiples", "n", "returns the sum of the positive integers up to and including n that are divisible by {k}",
     lambda k: lambda n: sum(i for i in range(1, n + 1) if i % k == 0)),
    ("count_above", "xs", "returns how many numbers in the list xs are greater than {k}",
     lambda k: lambda xs: sum(1 for x in xs if x > k)),
    ("scale_and_shift", "xs", "returns a new list with every element of xs multiplied by {k} and then increased by 1",
     lambda k: lambda xs: [x * k + 1 for x in xs]),
    ("digit_sum_power", "n", "returns the sum of the digits of n (a non-negative integer), raised to the power {k}",
     lambda k: lambda n: sum(int(d) for d in str(n)) ** k),
)


def _code_args(rng: random.Random, signature: str, level: int, count: int) -> list:
    hi = 10 * level + 5
    if signature == "n":
        return [rng.randint(0, hi * 3) for _ in range(count)]
    return [[rng.randint(-hi, hi) for _ in range(rng.randint(0, 3 + level))] for _ in range(count)]


def _code(rng: random.Random, level: int, w: int) -> tuple[str, None, dict]:
    name, signature, statement, make = _CODE_TASKS[rng.randrange(len(_CODE_TASKS))]
    k = rng.randint(2, 3 + level * w)
    reference = make(k)
    args = _code_args(rng, signature, level, 4 + 2 * level)
    example = args[0]
    problem = (f"Write a Python function `{name}({signature})` that {statement.format(k=k)}. "
               f"For example, {name}({example!r}) == {reference(example)!r}. "
               "Reply with the complete function in a ```python code block.")
    asserts = "".join(f"    assert candidate({a!r}) == {reference(a)!r}\n" for a in args)
    return problem, None, {"entry_point": name, "test": f"def check(candidate):\n{asserts}"}


def _choice(rng: random.Random, level: int, w: int) -> tuple[str, str, dict]:
    a, b, c = (rng.randint(2, 5 + 4 * level * w) for _ in range(3))
    value = a * b - c
    wrong = set()
    while len(wrong) < 3:
        candidate = value + rng.choice([-1, 1]) * rng.randint(1, 2 + level)
        if candidate != value:
            wrong.add(candidate)
    options = [str(v) for v in sorted(wrong | {value}, key=lambda _: rng.random())]
    letter = "ABCD"[options.index(str(value))]
    listed = "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(options))
    problem = f"Which of the following equals {a} * {b} - {c}? Answer with the letter of the option.\n\n{listed}"
    return problem, letter, {"choices": options}


_DOMAIN_OF = {"code": "code", "choice": "choice"}

_MAKERS = {"code": _code, "choice": _choice, "arithmetic": _arithmetic, "linear": _linear, "quadratic": _quadratic, "fractions": _fractions,
           "word": _word, "system": _system, "proof": _proof}


def generate(spec: ProceduralSpec) -> Iterator[dict]:
    """Yields n records: {"id": "<kind>-<level>-<index>", "problem": str, "answer": str or None,
    "domain": "math" (code/choice for those kinds), "kind": str, "level": int}, plus "entry_point" and
    "test" for code and "choices" for choice. Kinds round-robin; levels cycle min..max per round."""
    if not isinstance(spec, ProceduralSpec):
        raise TypeError(f"generate() expects a ProceduralSpec, got {type(spec).__name__}")
    # str seed: hashed with sha512 (stable across runs), and unlike ints, seed -3 differs from 3
    rng = random.Random(f"teachable-procedural-v{GENERATOR_VERSION}:{spec.seed}")
    kinds, levels = spec.kinds, range(spec.min_level, spec.max_level + 1)
    seen: set[str] = set()
    misses: dict[tuple[str, int], int] = {}
    for i in range(spec.n):
        kind, level = kinds[i % len(kinds)], levels[(i // len(kinds)) % len(levels)]
        while True:  # on a collision re-draw; repeated collisions widen the number ranges
            made = _MAKERS[kind](rng, level, 1 + isqrt(misses.get((kind, level), 0)))
            problem, answer, fields = made if len(made) == 3 else (*made, {})
            if problem not in seen:
                break
            misses[(kind, level)] = misses.get((kind, level), 0) + 1
        seen.add(problem)
        yield {"id": f"{kind}-{level}-{i}", "problem": problem, "answer": answer,
               "domain": _DOMAIN_OF.get(kind, "math"), "kind": kind, "level": level, **fields}


# ---------------------------------------------------------------- self-check (used by tests)

_IMPLICIT = re.compile(r"(?<=[\d)a-z])(?=[a-z(])")  # "3x", "2(x + 1)", ")(" -> explicit "*"
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: lambda a, b: a ** int(b)}


def _eval(text: str, env: dict[str, Fraction]) -> Fraction:
    """Exact evaluator for the generator's plain-text math: + - * / ^, parens, implicit products."""
    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(f"unsupported syntax in {text!r}")
    return ev(ast.parse(_IMPLICIT.sub("*", text.replace("^", "**")), mode="eval").body)


def _self_check(record: dict) -> bool:
    """Substitute the answer back into the problem (word problems are verified by construction)."""
    kind, problem, answer = record["kind"], record["problem"], record["answer"]
    if kind == "code":
        ast.parse(record["test"])  # the hidden tests are valid Python
        return answer is None and record["entry_point"] in problem and "assert candidate" in record["test"]
    if kind == "choice":
        expression = problem.split("equals ", 1)[1].split("?", 1)[0]
        return record["choices"]["ABCD".index(answer)] == str(_eval(expression, {}))
    if kind == "proof":
        return answer is None
    if kind == "word":
        return isinstance(answer, str) and answer.isdigit()
    body = (problem.split(": ", 1)[1] if ": " in problem else problem.split(" ", 1)[1]).rstrip(".")
    if kind in ("arithmetic", "fractions"):
        return _eval(body, {}) == Fraction(answer)
    if kind == "system":
        env = {k: Fraction(v) for k, v in (p.split(" = ") for p in answer.split(", "))}
        equations = body.split(" and ")
    else:
        roots = [Fraction(r) for r in answer.split(", ")]
        if len(roots) != (2 if kind == "quadratic" else 1) or len(set(roots)) != len(roots):
            return False
        env, equations = None, [body]
    for eq in equations:
        lhs, rhs = eq.split(" = ")
        for e in ([env] if env else [{"x": r} for r in roots]):
            if _eval(lhs, e) != _eval(rhs, e):
                return False
    return True
