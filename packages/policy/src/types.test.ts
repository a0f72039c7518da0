import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION } from './types.js';

describe('version', () => {
  it('is 1.0', () => {
    expect(FORMAT_VERSION).toBe('1.0');
  });
});
