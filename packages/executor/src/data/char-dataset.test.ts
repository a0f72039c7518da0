import { describe, expect, it } from 'vitest';
import { isExecutorError } from '../errors.js';
import { charVocabulary, createCharDataset } from './char-dataset.js';

describe('character datasets', () => {
  it('build a sorted vocabulary that round-trips text', () => {
    const vocab = charVocabulary('hello, wörld');
    expect(vocab.symbols).toEqual([' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'ö']);
    expect(vocab.decode(vocab.encode('world, hello'))).toBe('world, hello');
    expect(vocab.idOf('z')).toBeUndefined();
    expect(() => vocab.encode('z')).toThrow(/not in the vocabulary/);
  });

  it('cut batches of B sequences of T + 1 characters, inputs and next-character targets', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz'.repeat(4);
    const data = createCharDataset(text, { batchSize: 3, steps: 5 });
    expect(data.batchesPerEpoch).toBe(Math.floor(Math.floor((text.length - 1) / 5) / 3));
    const batch = data.batch(1);
    expect(batch.offsets).toEqual([15, 20, 25]);
    const decode = (ids: Int32Array, r: number): string =>
      data.vocabulary.decode(Array.from({ length: 5 }, (_, t) => ids[t * 3 + r] as number));
    expect(decode(batch.inputs, 0)).toBe('pqrst');
    expect(decode(batch.targets, 0)).toBe('qrstu');
    expect(decode(batch.inputs, 2)).toBe('zabcd');
    const sampled = data.sample();
    for (const start of sampled.offsets) expect(start + 5).toBeLessThan(text.length);
    const again = createCharDataset(text, { batchSize: 3, steps: 5 }).sample();
    expect(again.offsets).toEqual(sampled.offsets);
  });

  it('refuse texts that cannot make a character model, before any work', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return isExecutorError(e) ? e.code : 'untyped';
      }
      return undefined;
    };
    expect(code(() => createCharDataset('aaaaaaaaaaaaaaaaaaaa', { batchSize: 2, steps: 4 }))).toBe('E_DATA');
    expect(code(() => createCharDataset('', { batchSize: 2, steps: 4 }))).toBe('E_DATA');
    expect(code(() => createCharDataset('abcab', { batchSize: 2, steps: 10 }))).toBe('E_DATA');
    expect(code(() => createCharDataset('abcab', { batchSize: 0, steps: 2 }))).toBe('E_OPTIONS');
    expect(code(() => charVocabulary('ab').encode('abc'))).toBe('E_DATA');
    expect(() => createCharDataset('aaaa', { batchSize: 1, steps: 2 })).toThrow(
      /at least 2 distinct characters/,
    );
  });
});
