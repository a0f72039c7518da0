import { describe, expect, it } from 'vitest';
import { type Io, Progress } from './io.js';

function fakeIo(): { io: Io; lines: string[]; advance(ms: number): void } {
  let t = 0;
  const lines: string[] = [];
  const io = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => lines.push(s), isTTY: false },
    now: () => t,
  } as unknown as Io;
  return { io, lines, advance: (ms) => (t += ms) };
}

describe('Progress', () => {
  it('stays quiet for the first second, then reports without a time left until 1% is done', () => {
    const { io, lines, advance } = fakeIo();
    const p = new Progress(io, 'train');
    advance(500);
    p.update(1, 1000);
    expect(lines).toEqual([]);
    advance(4500);
    p.update(1, 100000); // 0.001%: no extrapolation
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^train \[\.+\]\s+0% \(5 s\) \n$/);
    advance(5000);
    p.update(20, 100); // 20% after 10 s: about 40 s left
    expect(lines[1]).toMatch(/20% \(10 s, ~40 s left\)/);
  });
});
