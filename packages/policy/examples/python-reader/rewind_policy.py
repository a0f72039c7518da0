"""A reader of the Rewind policy-interchange format, version 1, written from docs/policy-format.md.

Standard library only (Python 3.11+). It decodes JSON text and the binary encoding, validates, verifies by
replaying the abstract machine, and computes the canonical JSON and content hash.

    python3 rewind_policy.py suite [FIXTURES_DIR]   run the conformance suite (exit status 1 on any failure)
    python3 rewind_policy.py read FILE              print the verdict for one .json or .rwpl file
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import zlib
from dataclasses import dataclass, field

MAX_SAFE = 2**53 - 1
MAGIC = b"RWPL"
VERSION_RE = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")
STRATEGY_RE = re.compile(r"[A-Za-z0-9._:+\-]+")
TOLERANCE = 1e-9


@dataclass
class Limits:
    max_bytes: int = 256 * 1024 * 1024
    max_steps: int = 10_000_000
    max_instructions: int = 10_000_000
    max_meta_bytes: int = 64 * 1024
    max_meta_depth: int = 16
    max_depth: int = 256


class Fail(Exception):
    """The verdict on an invalid policy: the first rule broken, in the order of the spec."""

    def __init__(self, stage: str, code: str, path: str, message: str = ""):
        super().__init__(f"{stage} {code} at {path or '(root)'}: {message}")
        self.stage, self.code, self.path = stage, code, path


@dataclass(frozen=True)
class Num:
    """A JSON number: its double value, and the exact integer when written without fraction or exponent."""

    value: float
    exact: int | None = None


def ptr(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}/{key}"
    return parent + "/" + key.replace("~", "~0").replace("/", "~1")


# ----------------------------------------------------------------------------------------------------------
# JSON text (section 3.1)

_WS = " \t\n\r"
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


class _Parser:
    def __init__(self, text: str, max_depth: int):
        self.t, self.i, self.max_depth = text, 0, max_depth

    def syntax(self, what: str):
        raise Fail("decode", "E_JSON", "", f"not valid JSON: {what} at offset {self.i}")

    def ws(self):
        t, i = self.t, self.i
        while i < len(t) and t[i] in _WS:
            i += 1
        self.i = i

    def value(self, path: str, depth: int):
        self.ws()
        c = self.t[self.i] if self.i < len(self.t) else ""
        if c in ("{", "["):
            if depth + 1 > self.max_depth:
                raise Fail("decode", "E_LIMIT", "", f"nested deeper than {self.max_depth}")
            return self.obj(path, depth + 1) if c == "{" else self.arr(path, depth + 1)
        if c == '"':
            return self.string()
        if c != "" and c in "-0123456789":
            return self.number(path)
        for word, v in (("true", True), ("false", False), ("null", None)):
            if self.t.startswith(word, self.i):
                self.i += len(word)
                return v
        self.syntax("expected a value")

    def obj(self, path: str, depth: int) -> dict:
        self.i += 1
        out: dict = {}
        self.ws()
        if self.t.startswith("}", self.i):
            self.i += 1
            return out
        while True:
            self.ws()
            if not self.t.startswith('"', self.i):
                self.syntax("expected a key")
            key = self.string()
            self.ws()
            if not self.t.startswith(":", self.i):
                self.syntax('expected ":"')
            self.i += 1
            out[key] = self.value(ptr(path, key), depth)  # a repeated key keeps its last value
            self.ws()
            c = self.t[self.i : self.i + 1]
            if c == "}":
                self.i += 1
                return out
            if c != ",":
                self.syntax('expected "," or "}"')
            self.i += 1

    def arr(self, path: str, depth: int) -> list:
        self.i += 1
        out: list = []
        self.ws()
        if self.t.startswith("]", self.i):
            self.i += 1
            return out
        while True:
            out.append(self.value(ptr(path, len(out)), depth))
            self.ws()
            c = self.t[self.i : self.i + 1]
            if c == "]":
                self.i += 1
                return out
            if c != ",":
                self.syntax('expected "," or "]"')
            self.i += 1

    def string(self) -> str:
        t = self.t
        i = self.i + 1
        units: list[str] = []
        while True:
            if i >= len(t):
                self.i = i
                self.syntax("unterminated string")
            c = t[i]
            if c == '"':
                break
            if ord(c) < 0x20:
                self.i = i
                self.syntax("control character in a string")
            if c != "\\":
                units.append(c)
                i += 1
                continue
            e = t[i + 1 : i + 2]
            if e in _ESCAPES:
                units.append(_ESCAPES[e])
                i += 2
            elif e == "u" and _HEX4.fullmatch(t[i + 2 : i + 6]):
                units.append(chr(int(t[i + 2 : i + 6], 16)))
                i += 6
            else:
                self.i = i
                self.syntax("invalid escape")
        self.i = i + 1
        # \uD83D\uDE00 escapes are UTF-16: a high surrogate followed by a low one is one code point.
        s = "".join(units)
        return _join_surrogates(s)

    def number(self, path: str) -> Num:
        m = _NUMBER.match(self.t, self.i)
        if m is None:
            self.syntax("malformed number")
        self.i = m.end()
        text = m.group(0)
        value = float(text)
        if math.isinf(value):
            raise Fail("decode", "E_RANGE", path, f"{text[:40]} is beyond the range of a double")
        integral = m.group(1) is None and m.group(2) is None
        return Num(value, int(text) if integral else None)


def _join_surrogates(s: str) -> str:
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    out, i = [], 0
    while i < len(s):
        c = ord(s[i])
        if 0xD800 <= c <= 0xDBFF and i + 1 < len(s) and 0xDC00 <= ord(s[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((c - 0xD800) << 10) + (ord(s[i + 1]) - 0xDC00)))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_json_text(text: str, limits: Limits):
    if text.startswith("\ufeff"):
        text = text[1:]
    p = _Parser(text, limits.max_depth)
    v = p.value("", 0)
    p.ws()
    if p.i != len(text):
        p.syntax("text after the value")
    return v


def decode_json(data: bytes, limits: Limits):
    if len(data) > limits.max_bytes:
        raise Fail("decode", "E_LIMIT", "", "input too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Fail("decode", "E_JSON", "", f"not UTF-8: {e}") from None
    return parse_json_text(text, limits)


# ----------------------------------------------------------------------------------------------------------
# Binary encoding (section 4)


class _Bytes:
    def __init__(self, data: bytes, pos: int, end: int):
        self.d, self.pos, self.end = data, pos, end

    def byte(self, path: str) -> int:
        if self.pos >= self.end:
            raise Fail("decode", "E_BINARY_TRUNCATED", path, "ends early")
        b = self.d[self.pos]
        self.pos += 1
        return b

    def varint(self, path: str) -> int:
        b = self.byte(path)
        if b < 0x80:
            return b
        value, shift, n = b & 0x7F, 7, 1
        while True:
            if n >= 8:
                raise Fail("decode", "E_BINARY_VARINT", path, "longer than 8 bytes")
            b = self.byte(path)
            value |= (b & 0x7F) << shift
            if b < 0x80:
                if b == 0:
                    raise Fail("decode", "E_BINARY_VARINT", path, "not minimal")
                break
            shift += 7
            n += 1
        if value > MAX_SAFE:
            raise Fail("decode", "E_BINARY_VARINT", path, "above 2^53 - 1")
        return value

    def signed(self, path: str) -> int:
        z = self.varint(path)
        return z // 2 if z % 2 == 0 else -(z + 1) // 2


def _position(v: int, path: str) -> int:
    if abs(v) > MAX_SAFE:
        raise Fail("decode", "E_BINARY_VARINT", path, "a position beyond 2^53 - 1")
    return v


def _int(v: int) -> Num:
    return Num(float(v), v)


def decode_binary(data: bytes, limits: Limits) -> dict:
    if len(data) > limits.max_bytes:
        raise Fail("decode", "E_LIMIT", "", "input too large")
    for i in range(4):
        if i >= len(data):
            raise Fail("decode", "E_BINARY_TRUNCATED", "", "ends inside the magic")
        if data[i] != MAGIC[i]:
            raise Fail("decode", "E_BINARY_MAGIC", "", "no magic")
    if len(data) < 5:
        raise Fail("decode", "E_BINARY_TRUNCATED", "/version", "no major byte")
    if data[4] != 1:
        raise Fail("decode", "E_VERSION", "/version", f"major {data[4]}")
    if len(data) < 6:
        raise Fail("decode", "E_BINARY_TRUNCATED", "/version", "no minor byte")
    minor = data[5]
    if len(data) < 12:
        raise Fail("decode", "E_BINARY_TRUNCATED", "", "shorter than the smallest frame")
    end = len(data) - 4
    if zlib.crc32(data[:end]) != int.from_bytes(data[end:], "little"):
        raise Fail("decode", "E_BINARY_CHECKSUM", "", "checksum mismatch")
    r = _Bytes(data, 6, end)
    header_len = r.varint("/header")
    header_start = r.pos
    if header_len > end - r.pos:
        raise Fail("decode", "E_BINARY_TRUNCATED", "/header", "header past the checksum")
    r.pos += header_len
    count = r.varint("/instructions")
    if count > limits.max_instructions:
        raise Fail("decode", "E_LIMIT", "/instructions", "too many instructions")
    if 2 * count > end - r.pos:
        raise Fail("decode", "E_BINARY_TRUNCATED", "/instructions", "the instructions cannot fit")
    try:
        text = data[header_start : header_start + header_len].decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("decode", "E_JSON", "/header", "header not UTF-8") from None
    try:
        header = parse_json_text(text, limits)
    except Fail as f:
        raise (Fail(f.stage, f.code, "/header", str(f)) if f.path == "" else f) from None
    if not isinstance(header, dict):
        raise Fail("decode", "E_TYPE", "/header", "header not an object")
    if "instructions" in header:
        raise Fail("decode", "E_FORMAT", "/header/instructions", "header holds instructions")
    version = header.get("version")
    if isinstance(version, str):
        m = VERSION_RE.fullmatch(version)
        if m and (int(m.group(1)) != 1 or int(m.group(2)) != minor):
            raise Fail("decode", "E_VERSION", "/version", "header version differs from the bytes")
    out: list = []
    reg = 0
    for i in range(count):
        path = f"/instructions/{i}"
        op = r.byte(path)
        if op <= 4:
            a = _position(reg + r.signed(path), path)
            b = _position(a + r.varint(path), path)
            ins = {"op": "forward", "from": _int(a), "to": _int(b)}
            if op in (1, 3):
                ins["store"] = "hidden"
            elif op in (2, 4):
                ins["store"] = "internal"
            if op >= 3:
                ins["stride"] = _int(r.varint(path))
            reg = b
        elif op == 5:
            a = _position(reg + r.signed(path), path)
            b = _position(a - r.varint(path), path)
            ins = {"op": "backward", "from": _int(a), "to": _int(b)}
            reg = b
        elif op in (6, 7):
            at = _position(reg + r.signed(path), path)
            ins = {"op": "free", "kind": "hidden" if op == 6 else "internal", "at": _int(at)}
        else:
            raise Fail("decode", "E_BINARY_OPCODE", path, f"opcode {op:#04x}")
        out.append(ins)
    if r.pos != end:
        raise Fail("decode", "E_BINARY_TRAILING", "", "bytes between the body and the checksum")
    header["instructions"] = out
    return header


# ----------------------------------------------------------------------------------------------------------
# Canonical JSON and hash (section 3.3)


def es_number(x: float) -> str:
    """ECMAScript Number::toString of a finite double."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    return (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + sign + str(abs(e))


def es_string(s: str) -> str:
    """A string as ECMAScript JSON.stringify writes it."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def canonical(v, instruction: bool = False) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Num):
        return es_number(v.value)
    if isinstance(v, str):
        return es_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    items = dict(v)
    if instruction and items.get("op") == "forward" and "store" in items and "stride" in items:
        stride, a, b = items["stride"], items["from"], items["to"]
        if stride.value == b.value - a.value:
            del items["stride"]  # the default stride: one canonical form for both spellings
    keys = sorted(items, key=_utf16_key)
    return "{" + ",".join(es_string(k) + ":" + canonical(items[k]) for k in keys) + "}"


def canonical_policy(p: dict) -> str:
    body = "[" + ",".join(canonical(ins, instruction=True) for ins in p["instructions"]) + "]"
    keys = sorted(p, key=_utf16_key)
    return "{" + ",".join(es_string(k) + ":" + (body if k == "instructions" else canonical(p[k])) for k in keys) + "}"


def content_hash(p: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical_policy(p).encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------------------
# Validation: schema stage (section 3.2) and semantic stage (section 3.4)


@dataclass
class Prop:
    kind: str  # int, num, str, enum, obj, meta, instructions
    required: bool = True
    minimum: float | None = None
    exclusive: float | None = None
    props: dict = field(default_factory=dict)


def I(minimum, required=True):  # noqa: E743
    return Prop("int", required, minimum=minimum)


def N(minimum=None, exclusive=None):
    return Prop("num", minimum=minimum, exclusive=exclusive)


KIND = Prop("enum")
POLICY = {
    "format": Prop("skip"),
    "version": Prop("skip"),
    "steps": I(1),
    "strategy": Prop("str"),
    "costModel": Prop("obj", props={"alpha": N(1), "forwardCost": N(exclusive=0), "backwardCost": N(0)}),
    "budget": Prop("obj", props={"slots": N(exclusive=0), "bytes": I(0, False)}),
    "stateBytes": Prop("obj", False, props={"hidden": I(1), "internal": I(1)}),
    "totals": Prop(
        "obj",
        props={"forwards": I(0), "backwards": I(0), "peakSlots": N(0), "peakBytes": I(0, False)},
    ),
    "meta": Prop("meta", False),
    "instructions": Prop("instructions"),
}
INSTRUCTIONS = {
    "forward": {"op": Prop("skip"), "from": I(0), "to": I(1), "store": Prop("enum", False), "stride": I(1, False)},
    "backward": {"op": Prop("skip"), "from": I(1), "to": I(1)},
    "free": {"op": Prop("skip"), "kind": KIND, "at": I(0)},
}


def _schema(code: str, path: str, message: str = ""):
    raise Fail("schema", code, path, message)


class Validator:
    def __init__(self, limits: Limits, tolerant: bool):
        self.limits, self.tolerant = limits, tolerant

    def obj(self, props: dict, v, path: str):
        if not isinstance(v, dict):
            _schema("E_TYPE", path, "expected an object")
        unknown = sorted((k for k in v if k not in props), key=_utf16_key)
        if unknown and not self.tolerant:
            _schema("E_UNKNOWN_KEY", ptr(path, unknown[0]))
        for key, prop in props.items():
            if key not in v:
                if prop.required:
                    _schema("E_REQUIRED", ptr(path, key))
                continue
            self.value(prop, v[key], ptr(path, key))
        if "stride" in v and "stride" in props and "store" not in v:
            _schema("E_REQUIRED", ptr(path, "store"), "a stride needs a store")

    def value(self, prop: Prop, v, path: str):
        k = prop.kind
        if k == "skip":
            return
        if k == "int":
            if not isinstance(v, Num):
                _schema("E_TYPE", path, "expected an integer")
            if v.exact is None or abs(v.exact) > MAX_SAFE:
                _schema("E_INTEGER", path, "expected an integer without fraction or exponent, |n| <= 2^53 - 1")
            if v.exact < prop.minimum:
                _schema("E_RANGE", path)
        elif k == "num":
            if not isinstance(v, Num):
                _schema("E_TYPE", path, "expected a number")
            x = v.value
            if (prop.minimum is not None and x < prop.minimum) or (prop.exclusive is not None and x <= prop.exclusive):
                _schema("E_RANGE", path)
        elif k == "str":
            if not isinstance(v, str):
                _schema("E_TYPE", path)
            if not 1 <= len(v) <= 128:
                _schema("E_RANGE", path, "1..128 code points")
            if not STRATEGY_RE.fullmatch(v):
                _schema("E_FORMAT", path)
        elif k == "enum":
            if not isinstance(v, str):
                _schema("E_TYPE", path)
            if v not in ("hidden", "internal"):
                _schema("E_ENUM", path)
        elif k == "obj":
            self.obj(prop.props, v, path)
        elif k == "meta":
            if not isinstance(v, dict):
                _schema("E_TYPE", path)
            if depth(v) > self.limits.max_meta_depth:
                _schema("E_LIMIT", path, "meta too deep")
            if len(canonical(v).encode("utf-8")) > self.limits.max_meta_bytes:
                _schema("E_LIMIT", path, "meta too large")
        elif k == "instructions":
            if not isinstance(v, list):
                _schema("E_TYPE", path)
            if len(v) > self.limits.max_instructions:
                _schema("E_LIMIT", path)
            for i, ins in enumerate(v):
                p = ptr(path, i)
                if not isinstance(ins, dict):
                    _schema("E_TYPE", p)
                if "op" not in ins:
                    _schema("E_REQUIRED", ptr(p, "op"))
                op = ins["op"]
                if not isinstance(op, str) or op not in INSTRUCTIONS:
                    _schema("E_ENUM", ptr(p, "op"))
                self.obj(INSTRUCTIONS[op], ins, p)


def depth(v) -> int:
    """Nesting of containers: an object or array is one more than its deepest member; scalars are 0."""
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def validate(doc, limits: Limits) -> dict:
    if not isinstance(doc, dict):
        _schema("E_TYPE", "", "a policy is an object")
    if doc.get("format") != "rewind-policy":
        _schema("E_FORMAT", "/format")
    version = doc.get("version")
    m = VERSION_RE.fullmatch(version) if isinstance(version, str) else None
    if m is None or int(m.group(1)) != 1:
        _schema("E_VERSION", "/version")
    steps = doc.get("steps")
    if isinstance(steps, Num) and steps.exact is not None and limits.max_steps < steps.exact <= MAX_SAFE:
        _schema("E_LIMIT", "/steps")
    Validator(limits, int(m.group(2)) > 0).obj(POLICY, doc, "")
    semantic(doc)
    return doc


def semantic(doc: dict):
    T = doc["steps"].exact
    for i, ins in enumerate(doc["instructions"]):
        p = f"/instructions/{i}"
        op = ins["op"]

        def bad(key: str):
            raise Fail("semantic", "E_RANGE", f"{p}/{key}", "position out of range")

        if op == "forward":
            a, b = ins["from"].exact, ins["to"].exact
            if not 0 <= a <= min(T - 1, b - 1):
                bad("from")
            if not a + 1 <= b <= T:
                bad("to")
            if "stride" in ins and not 1 <= ins["stride"].exact <= b - a:
                bad("stride")
        elif op == "backward":
            a, b = ins["from"].exact, ins["to"].exact
            if not max(1, b) <= a <= T:
                bad("from")
            if not 1 <= b <= min(a, T):
                bad("to")
        else:
            lo = 1 if ins["kind"] == "internal" else 0
            if not lo <= ins["at"].exact <= T:
                bad("at")


# ----------------------------------------------------------------------------------------------------------
# Verification: the abstract machine (section 2)


def within(a: float, b: float) -> bool:
    return a <= b + TOLERANCE * max(1.0, abs(b))


def verify(p: dict) -> dict:
    T = p["steps"].exact
    alpha = p["costModel"]["alpha"].value
    sb = p.get("stateBytes")
    hb, ib = (float(sb["hidden"].exact), float(sb["internal"].exact)) if sb else (0.0, 0.0)
    budget_slots = p["budget"]["slots"].value
    budget_bytes = p["budget"]["bytes"].value if sb and "bytes" in p["budget"] else None
    hidden, internal = bytearray(T + 1), bytearray(T + 1)
    hidden[0] = 1
    st = {"nh": 1, "ni": 0, "peak_slots": 0.0, "peak_bytes": 0.0}

    def fail(code: str, path: str, message: str = ""):
        raise Fail("verify", code, path, message)

    def account() -> bool:
        slots = st["nh"] + st["ni"] * alpha
        nbytes = st["nh"] * hb + st["ni"] * ib
        st["peak_slots"] = max(st["peak_slots"], slots)
        st["peak_bytes"] = max(st["peak_bytes"], nbytes)
        return within(slots, budget_slots) and (budget_bytes is None or nbytes <= budget_bytes)

    if not account():
        fail("E_VERIFY_BUDGET", "/budget/bytes" if within(1, budget_slots) else "/budget/slots")
    nxt, working, forwards, backwards = T, None, 0, 0
    swept = {"h": T + 1, "i": T + 1}
    for i, ins in enumerate(p["instructions"]):
        at = f"/instructions/{i}"
        op = ins["op"]
        if op == "forward":
            a, b = ins["from"].exact, ins["to"].exact
            if not hidden[a] and not internal[a]:
                fail("E_VERIFY_NO_SOURCE", at + "/from")
            if "store" in ins:
                kind = ins["store"]
                k = ins["stride"].exact if "stride" in ins else b - a
                held = hidden if kind == "hidden" else internal
                last_alive = nxt - 1 if kind == "hidden" else nxt
                for q in range(a + k, b + 1, k):
                    if held[q]:
                        fail("E_VERIFY_HELD", at)
                    if q > last_alive:
                        fail("E_VERIFY_DEAD", at)
                    held[q] = 1
                    st["nh" if kind == "hidden" else "ni"] += 1
                    if not account():
                        fail("E_VERIFY_BUDGET", at)
            forwards += b - a
            working = b
        elif op == "backward":
            a, b = ins["from"].exact, ins["to"].exact
            if a != nxt:
                fail("E_VERIFY_ORDER", at + "/from")
            for t in range(a, b - 1, -1):
                if not internal[t] and not (t == a and working == a):
                    if hidden[t - 1] or internal[t - 1]:
                        forwards += 1
                    else:
                        fail("E_VERIFY_NO_STATE", at)
                backwards += 1
                nxt = t - 1
                # Rule 2.2.3. Positions at and above swept[...] were released before, and no later store can
                # reach them (a store must be alive), so each position is visited once.
                for q in range(t - 1, swept["h"]):
                    if hidden[q]:
                        hidden[q] = 0
                        st["nh"] -= 1
                swept["h"] = min(swept["h"], t - 1)
                for q in range(t, swept["i"]):
                    if internal[q]:
                        internal[q] = 0
                        st["ni"] -= 1
                swept["i"] = min(swept["i"], t)
            working = None
        else:
            held = hidden if ins["kind"] == "hidden" else internal
            q = ins["at"].exact
            if not held[q]:
                fail("E_VERIFY_NOT_HELD", at + "/at")
            held[q] = 0
            st["nh" if ins["kind"] == "hidden" else "ni"] -= 1
            working = None
    if nxt != 0:
        fail("E_VERIFY_INCOMPLETE", "/instructions")
    t = p["totals"]
    peak = st["peak_slots"]
    if t["forwards"].exact != forwards:
        fail("E_VERIFY_TOTALS", "/totals/forwards")
    if t["backwards"].exact != backwards:
        fail("E_VERIFY_TOTALS", "/totals/backwards")
    claimed = t["peakSlots"].value
    if not (within(claimed, peak) and within(peak, claimed)):
        fail("E_VERIFY_TOTALS", "/totals/peakSlots")
    if ("peakBytes" in t) != (sb is not None):
        fail("E_VERIFY_TOTALS", "/totals/peakBytes")
    if sb is not None and float(t["peakBytes"].exact) != st["peak_bytes"]:
        fail("E_VERIFY_TOTALS", "/totals/peakBytes")
    totals = {"forwards": forwards, "backwards": backwards, "peakSlots": peak}
    if sb is not None:
        totals["peakBytes"] = st["peak_bytes"]
    return totals


# ----------------------------------------------------------------------------------------------------------
# Reading a file, and the conformance suite


def read(data: bytes, binary: bool, limits: Limits | None = None) -> dict:
    """The verdict on one input: valid with totals and hash, or invalid with stage, code and path."""
    limits = limits or Limits()
    try:
        doc = decode_binary(data, limits) if binary else decode_json(data, limits)
        policy = validate(doc, limits)
        totals = verify(policy)
    except Fail as f:
        return {"verdict": "invalid", "stage": f.stage, "code": f.code, "path": f.path}
    shown = {k: int(v) if float(v).is_integer() else v for k, v in totals.items()}
    return {"verdict": "valid", "totals": shown, "hash": content_hash(policy)}


def is_binary(data: bytes) -> bool:
    """How a reader tells the encodings apart: binary starts with the magic, JSON text never can."""
    return data[:4] == MAGIC


def _same_number(a, b) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b)


def run_suite(fixtures: str) -> int:
    with open(os.path.join(fixtures, "expected.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    cases = manifest["cases"]
    failures = []
    for name in sorted(cases):
        want = cases[name]
        with open(os.path.join(fixtures, name), "rb") as f:
            data = f.read()
        got = read(data, name.endswith(".rwpl"))
        if want["verdict"] == "valid":
            ok = (
                got["verdict"] == "valid"
                and got["hash"] == want["hash"]
                and set(got["totals"]) == set(want["totals"])
                and all(_same_number(got["totals"][k], want["totals"][k]) for k in want["totals"])
            )
            if "sameAs" in want and cases[want["sameAs"]].get("hash") != want["hash"]:
                ok = False
        else:
            ok = all(got.get(k) == want[k] for k in ("verdict", "stage", "code", "path"))
        if not ok:
            failures.append((name, want, got))
    for name, want, got in failures:
        shown = {k: v for k, v in want.items() if k != "about"}
        print(f"FAIL {name}\n  expected {shown}\n  got      {got}")
    passed = len(cases) - len(failures)
    status = "passed" if not failures else "FAILED"
    print(f"python reader: conformance suite {status}: {passed}/{len(cases)} cases agree")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    if len(argv) >= 2 and argv[1] == "read" and len(argv) == 3:
        with open(argv[2], "rb") as f:
            data = f.read()
        print(json.dumps(read(data, is_binary(data))))
        return 0
    if len(argv) <= 3 and (len(argv) == 1 or argv[1] == "suite"):
        fixtures = argv[2] if len(argv) == 3 else os.path.join(here, "..", "..", "fixtures")
        return run_suite(fixtures)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
