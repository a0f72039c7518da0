import { describe, expect, it } from 'vitest';
import { isExecutorError } from './errors.js';
import { HandleBook } from './handles.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isExecutorError(e) ? e.code : `untyped: ${String(e)}`;
  }
  return undefined;
}

describe('HandleBook', () => {
  it('counts live handles; lent views do not count and end with their internal state', () => {
    const book = new HandleBook({ name: 'test', steps: 3 });
    const h0 = book.hidden({ id: 'h0' }, 0);
    const h1 = book.hidden({ id: 'h1' }, 1);
    const view = { id: 'view' };
    const s1 = book.internal({ id: 's1' }, 1, view);
    expect(book.live).toBe(3);
    expect(book.viewOf(s1)).toBe(view);
    expect(book.use(view, 'hidden', 'forward')).toBe(view);
    expect(book.forward(view, 2)).toBe(view);
    expect(book.dispose(s1)).toBe('internal');
    expect(codeOf(() => book.use(view, 'hidden', 'forward'))).toBe('E_HANDLE');
    expect(book.dispose(h0)).toBe('hidden');
    expect(book.dispose(h1)).toBe('hidden');
    expect(book.live).toBe(0);
  });

  it('refuses foreign, wrong-kind, disposed and lent handles with E_HANDLE', () => {
    const book = new HandleBook({ name: 'test', steps: 3 });
    const other = new HandleBook({ name: 'other', steps: 3 });
    const h = book.hidden({}, 0);
    const g = book.gradient({});
    const view = {};
    const s = book.internal({}, 1);
    expect(book.lend(s, view)).toBe(view);
    expect(book.lend(s, {})).toBe(view);
    expect(codeOf(() => other.use(h, 'hidden', 'forward'))).toBe('E_HANDLE');
    expect(codeOf(() => book.use(g, 'hidden', 'forward'))).toBe('E_HANDLE');
    expect(codeOf(() => book.use(null, 'hidden', 'forward'))).toBe('E_HANDLE');
    expect(codeOf(() => book.use(42, 'internal', 'backward'))).toBe('E_HANDLE');
    expect(codeOf(() => book.dispose(view))).toBe('E_HANDLE');
    expect(() => book.dispose(view)).toThrow(/test: dispose was given a lent hidden state/);
    book.dispose(h);
    expect(codeOf(() => book.dispose(h))).toBe('E_HANDLE');
    expect(() => book.dispose(h)).toThrow(/hidden handle disposed twice/);
    expect(codeOf(() => book.forward(h, 1))).toBe('E_HANDLE');
    expect(codeOf(() => book.hidden(g))).toBe('E_HANDLE');
  });

  it('checks step numbers and the position of a forward step', () => {
    const book = new HandleBook({ name: 'test', steps: 3 });
    const h0 = book.hidden({}, 0);
    const unknown = book.hidden({});
    expect(codeOf(() => book.forward(h0, 0))).toBe('E_STEP');
    expect(codeOf(() => book.forward(h0, 4))).toBe('E_STEP');
    expect(codeOf(() => book.forward(h0, 1.5))).toBe('E_STEP');
    expect(codeOf(() => book.forward(h0, 2))).toBe('E_STEP');
    expect(() => book.forward(h0, 2)).toThrow(/forward step 2 was given h_0, expected h_1/);
    expect(book.forward(h0, 1)).toBe(h0);
    // A state whose position the backend does not track may feed any step.
    expect(book.forward(unknown, 3)).toBe(unknown);
  });

  it('enforces the backward order T, T-1, .., 1 and the incoming gradients', () => {
    const book = new HandleBook({ name: 'test', steps: 3 });
    const s = [1, 2, 3].map((t) => book.internal({ t }, t));
    const g = book.gradient({});
    const [s1, s2, s3] = s as [object, object, object];
    expect(codeOf(() => book.backward(s2, g, 2))).toBe('E_STEP');
    expect(codeOf(() => book.backward(s3, g, 3))).toBe('E_STEP');
    expect(codeOf(() => book.backward(s2, null, 3))).toBe('E_STEP');
    expect(() => book.backward(s2, null, 3)).toThrow(
      /backward step 3 was given the internal state of step 2/,
    );
    expect(book.backward(s3, null, 3).internal).toBe(s3);
    expect(codeOf(() => book.backward(s2, null, 2))).toBe('E_STEP');
    expect(codeOf(() => book.backward(s1, g, 1))).toBe('E_STEP');
    expect(book.backward(s2, g, 2).dh).toBe(g);
    // A new pass may start at T at any time; resetOrder starts it afresh.
    expect(book.backward(s3, null, 3).internal).toBe(s3);
    book.resetOrder();
    expect(codeOf(() => book.backward(s2, g, 2))).toBe('E_STEP');
  });

  it('throws the error the backend builds, with the same codes', () => {
    class MyError extends Error {
      constructor(
        readonly code: string,
        message: string,
      ) {
        super(`${code}: ${message}`);
      }
    }
    const book = new HandleBook({ name: 'mine', steps: 2, error: (code, m) => new MyError(code, m) });
    try {
      book.checkStep(3, 'forward');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MyError);
      expect((e as MyError).code).toBe('E_STEP');
      expect((e as MyError).message).toBe('E_STEP: mine: forward step 3 is outside 1..2');
    }
  });
});
