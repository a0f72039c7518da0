import { ExecutorError } from '../errors.js';
import type { SequenceBatch } from '../model.js';
import { seededUniform } from './random.js';

/** The characters (Unicode code points) of a text, each with an id. */
export interface CharVocabulary {
  /** The characters, in id order (sorted by code point). */
  readonly symbols: readonly string[];
  /** The number of characters. */
  readonly size: number;
  /** The id of a character, or undefined. */
  idOf(symbol: string): number | undefined;
  /** The ids of a text's characters; throws `E_DATA` on a character outside the vocabulary. */
  encode(text: string): Int32Array;
  /** The text of a sequence of ids. */
  decode(ids: ArrayLike<number>): string;
}

/** The vocabulary of `text`: its distinct characters (code points), sorted. */
export function charVocabulary(text: string): CharVocabulary {
  const symbols = [...new Set(Array.from(text))].sort(
    (a, b) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0),
  );
  const index = new Map<string, number>();
  symbols.forEach((s, i) => {
    index.set(s, i);
  });
  return {
    symbols,
    size: symbols.length,
    idOf: (symbol) => index.get(symbol),
    encode(input) {
      const chars = Array.from(input);
      const out = new Int32Array(chars.length);
      chars.forEach((c, i) => {
        const id = index.get(c);
        if (id === undefined)
          throw new ExecutorError(
            'E_DATA',
            `the character ${JSON.stringify(c)} at ${i} is not in the vocabulary (${symbols.length} characters)`,
          );
        out[i] = id;
      });
      return out;
    },
    decode(ids) {
      let s = '';
      for (let i = 0; i < ids.length; i++) s += symbols[ids[i] as number] ?? '\uFFFD';
      return s;
    },
  };
}

/** Options of `createCharDataset`. */
export interface CharDatasetOptions {
  /** Sequences per batch, `B`. */
  readonly batchSize: number;
  /** Steps per sequence, `T`: each sequence reads `T + 1` characters. */
  readonly steps: number;
  /** Seed of `sample()` (default 1). */
  readonly seed?: number;
  /** The vocabulary (default: the text's own). */
  readonly vocabulary?: CharVocabulary;
}

/** A batch of a character-level language model: token ids in, the next token ids as targets. */
export interface CharBatch extends SequenceBatch<Int32Array> {
  readonly inputKind: 'ids';
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  /** Where each sequence starts in the text (in characters). */
  readonly offsets: readonly number[];
}

/** A character-level dataset over one text. */
export interface CharDataset {
  readonly vocabulary: CharVocabulary;
  /** The text as ids. */
  readonly tokens: Int32Array;
  readonly batchSize: number;
  readonly steps: number;
  /** Batches of `batch(index)` that cover the text once (sequences do not overlap). */
  readonly batchesPerEpoch: number;
  /**
   * Batch `index` (taken modulo `batchesPerEpoch`) of the epoch order: sequence `r` of batch `k` reads
   * characters `s T .. s T + T` with `s = k B + r`.
   */
  batch(index: number): CharBatch;
  /** A batch of sequences starting at random offsets (seeded; each call draws new ones). */
  sample(): CharBatch;
}

/**
 * Cut a text into batches for a character-level language model: `B` sequences of `T + 1` characters,
 * inputs the first `T` (ids, one-hot encoded by the cell backend over the vocabulary) and targets the
 * last `T`, in the layout of `SequenceBatch` (`(t-1) * B + r`). Use a model with `inputSize` and the softmax
 * head's `classes` equal to `vocabulary.size`.
 */
export function createCharDataset(text: string, options: CharDatasetOptions): CharDataset {
  const B = options.batchSize;
  const T = options.steps;
  for (const [name, n] of [
    ['batchSize', B],
    ['steps', T],
  ] as const) {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new ExecutorError('E_OPTIONS', `/${name} must be a positive integer, got ${String(n)}`, {
        path: `/${name}`,
      });
  }
  const vocabulary = options.vocabulary ?? charVocabulary(text);
  if (vocabulary.size < 2) {
    throw new ExecutorError(
      'E_DATA',
      `the text has a vocabulary of ${vocabulary.size} character${vocabulary.size === 1 ? '' : 's'}; a character model needs at least 2 distinct characters`,
    );
  }
  const tokens = vocabulary.encode(text);
  if (tokens.length < T + 1) {
    throw new ExecutorError(
      'E_DATA',
      `the text has ${tokens.length} characters, fewer than steps + 1 = ${T + 1}`,
    );
  }
  const windows = Math.floor((tokens.length - 1) / T);
  const batchesPerEpoch = Math.floor(windows / B);
  const rng = seededUniform(options.seed ?? 1);
  const build = (offsets: number[]): CharBatch => {
    const inputs = new Int32Array(T * B);
    const targets = new Int32Array(T * B);
    offsets.forEach((start, r) => {
      for (let t = 0; t < T; t++) {
        inputs[t * B + r] = tokens[start + t] as number;
        targets[t * B + r] = tokens[start + t + 1] as number;
      }
    });
    return { steps: T, batchSize: B, inputKind: 'ids', inputs, targets, offsets };
  };
  return {
    vocabulary,
    tokens,
    batchSize: B,
    steps: T,
    batchesPerEpoch,
    batch(index) {
      if (batchesPerEpoch === 0) {
        throw new ExecutorError(
          'E_DATA',
          `the text holds ${windows} sequences of ${T} steps, fewer than a batch of ${B}`,
        );
      }
      const k = ((Math.trunc(index) % batchesPerEpoch) + batchesPerEpoch) % batchesPerEpoch;
      return build(Array.from({ length: B }, (_, r) => (k * B + r) * T));
    },
    sample() {
      const span = tokens.length - T - 1;
      return build(Array.from({ length: B }, () => Math.min(span, Math.floor(rng() * (span + 1)))));
    },
  };
}
