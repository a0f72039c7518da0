// Reading JSON text as docs/policy-format.md section 3.1 prescribes: RFC 8259, bounded nesting, finite numbers,
// and the lexical form of numbers kept where it matters (an integer has no fraction and no exponent).

import { issue, PolicyError, pointer } from './errors.js';

/**
 * A number written with a fraction or an exponent whose value is nevertheless an integer (`4.0`, `4e0`,
 * `1e3`). Validation refuses it where the format requires an integer and reads it as its value elsewhere.
 * Only `parseJsonText` makes these; `JSON.parse` never does.
 */
export class WrittenNumber {
  constructor(readonly value: number) {}
}

function fail(code: 'E_JSON' | 'E_LIMIT' | 'E_RANGE', path: string, message: string): never {
  throw new PolicyError([issue(code, 'decode', path, message)]);
}

const C = {
  Tab: 0x09,
  Lf: 0x0a,
  Cr: 0x0d,
  Space: 0x20,
  Quote: 0x22,
  Plus: 0x2b,
  Comma: 0x2c,
  Minus: 0x2d,
  Dot: 0x2e,
  Zero: 0x30,
  Nine: 0x39,
  Colon: 0x3a,
  UpperE: 0x45,
  OpenBracket: 0x5b,
  Backslash: 0x5c,
  CloseBracket: 0x5d,
  LowerE: 0x65,
  OpenBrace: 0x7b,
  CloseBrace: 0x7d,
} as const;

/** Whether a number token needs the careful reader: an integral value written as a fraction, or an overflow. */
function specialNumber(token: string, fractionOrExponent: boolean): boolean {
  if (!fractionOrExponent) return token.length > 300 && !Number.isFinite(Number(token));
  const value = Number(token);
  return Number.isInteger(value) || !Number.isFinite(value);
}

/**
 * A quick pass over the text: true when `JSON.parse` gives exactly what the careful reader would (no number
 * that is special, nesting within bounds). Malformed text may pass; `JSON.parse` then rejects it.
 */
function plain(text: string, maxDepth: number): boolean {
  const n = text.length;
  let depth = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === C.Quote) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === C.Quote) break;
        i += d === C.Backslash ? 2 : 1;
      }
      i++;
    } else if (c === C.OpenBrace || c === C.OpenBracket) {
      if (++depth > maxDepth) return false;
      i++;
    } else if (c === C.CloseBrace || c === C.CloseBracket) {
      depth--;
      i++;
    } else if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) {
      const start = i;
      let fractionOrExponent = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === C.Dot || d === C.LowerE || d === C.UpperE) fractionOrExponent = true;
        else if (!((d >= C.Zero && d <= C.Nine) || d === C.Plus || d === C.Minus)) break;
        i++;
      }
      if (
        (fractionOrExponent || i - start > 300) &&
        specialNumber(text.slice(start, i), fractionOrExponent)
      ) {
        return false;
      }
    } else i++;
  }
  return true;
}

/** A recursive-descent reader of RFC 8259 JSON text; the first problem in text order is the one reported. */
class Reader {
  pos = 0;

  constructor(
    readonly text: string,
    readonly maxDepth: number,
  ) {}

  syntax(what: string): never {
    const at = this.pos < this.text.length ? `at offset ${this.pos}` : 'at the end of the input';
    return fail('E_JSON', '', `the input is not valid JSON: ${what} ${at}`);
  }

  space(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === C.Space || c === C.Tab || c === C.Lf || c === C.Cr) p++;
      else break;
    }
    this.pos = p;
  }

  value(path: string, depth: number): unknown {
    this.space();
    const c = this.text.charCodeAt(this.pos);
    if (c === C.OpenBrace || c === C.OpenBracket) {
      if (depth + 1 > this.maxDepth) {
        fail('E_LIMIT', '', `the JSON text is nested deeper than ${this.maxDepth} levels`);
      }
      return c === C.OpenBrace ? this.object(path, depth + 1) : this.array(path, depth + 1);
    }
    if (c === C.Quote) return this.string();
    if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) return this.number(path);
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.syntax('expected a value');
  }

  object(path: string, depth: number): Record<string, unknown> {
    this.pos++; // {
    const out: Record<string, unknown> = {};
    this.space();
    if (this.text.charCodeAt(this.pos) === C.CloseBrace) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text.charCodeAt(this.pos) !== C.Quote) this.syntax('expected a string key');
      const key = this.string();
      this.space();
      if (this.text.charCodeAt(this.pos) !== C.Colon) this.syntax('expected ":"');
      this.pos++;
      const v = this.value(pointer(path, key), depth);
      // An own data property whatever the name (as JSON.parse does); a repeated name keeps its last value.
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      this.space();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === C.CloseBrace) return out;
      if (c !== C.Comma) {
        this.pos--;
        this.syntax('expected "," or "}"');
      }
    }
  }

  array(path: string, depth: number): unknown[] {
    this.pos++; // [
    const out: unknown[] = [];
    this.space();
    if (this.text.charCodeAt(this.pos) === C.CloseBracket) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(pointer(path, out.length), depth));
      this.space();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === C.CloseBracket) return out;
      if (c !== C.Comma) {
        this.pos--;
        this.syntax('expected "," or "]"');
      }
    }
  }

  string(): string {
    const t = this.text;
    let p = this.pos + 1;
    let out = '';
    let run = p;
    for (;;) {
      if (p >= t.length) {
        this.pos = p;
        this.syntax('unterminated string');
      }
      const c = t.charCodeAt(p);
      if (c === C.Quote) break;
      if (c < 0x20) {
        this.pos = p;
        this.syntax('a control character in a string');
      }
      if (c !== C.Backslash) {
        p++;
        continue;
      }
      out += t.slice(run, p);
      const e = t[p + 1];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (e !== undefined && Object.hasOwn(simple, e)) {
        out += simple[e];
        p += 2;
      } else if (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(t.slice(p + 2, p + 6))) {
        out += String.fromCharCode(Number.parseInt(t.slice(p + 2, p + 6), 16));
        p += 6;
      } else {
        this.pos = p;
        this.syntax('an invalid escape');
      }
      run = p;
    }
    out += t.slice(run, p);
    this.pos = p + 1;
    return out;
  }

  number(path: string): number | WrittenNumber {
    const match = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    match.lastIndex = this.pos;
    const m = match.exec(this.text);
    if (m === null) return this.syntax('a malformed number');
    this.pos += m[0].length;
    const value = Number(m[0]);
    if (!Number.isFinite(value)) {
      fail('E_RANGE', path, `the number ${m[0].slice(0, 40)} is too large to be represented`);
    }
    if ((m[1] !== undefined || m[2] !== undefined) && Number.isInteger(value))
      return new WrittenNumber(value);
    return value;
  }
}

/**
 * Read JSON text (without a byte-order mark) into a value: RFC 8259 exactly, objects nested at most `maxDepth`
 * levels, every number finite. A number with a fraction or exponent whose value is an integer comes back as a
 * `WrittenNumber`; a repeated object key keeps its last value.
 *
 * @throws PolicyError `E_JSON` (path `""`) for malformed text, `E_LIMIT` (path `""`) for deeper nesting,
 * `E_RANGE` at the number's path for a number beyond the range of a double. The first problem in text order
 * is reported.
 */
export function parseJsonText(text: string, maxDepth: number): unknown {
  if (plain(text, maxDepth)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // The careful reader names the first problem.
    }
  }
  const reader = new Reader(text, maxDepth);
  const value = reader.value('', 0);
  reader.space();
  if (reader.pos !== text.length) reader.syntax('unexpected text after the value');
  return value;
}
