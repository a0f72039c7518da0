import wabt from 'wabt';

/** The two compiled variants of the native kernels. */
export interface NativeModules {
  readonly shared: Uint8Array;
  readonly plain: Uint8Array;
}

const SHARED_IMPORT = '(import "env" "memory" (memory 1 65536 shared))';
const PLAIN_IMPORT = '(import "env" "memory" (memory 1))';
const FEATURES = { simd: true, threads: true, sat_float_to_int: true } as const;

/** Compile the kernels' text once per memory variant. */
export async function compileNativeModules(source: string): Promise<NativeModules> {
  if (!source.includes(SHARED_IMPORT))
    throw new Error(`kernels.wat must import its memory as ${SHARED_IMPORT}`);
  const w = await wabt();
  const compile = (text: string): Uint8Array => {
    const m = w.parseWat('kernels.wat', text, FEATURES);
    try {
      // The typings omit validate's features argument.
      (m.validate as (features: typeof FEATURES) => void)(FEATURES);
      return new Uint8Array(m.toBinary({}).buffer);
    } finally {
      m.destroy();
    }
  };
  const expanded = expandMacros(source);
  return { shared: compile(expanded), plain: compile(expanded.replace(SHARED_IMPORT, PLAIN_IMPORT)) };
}

const splat = (x: string): string => `(v128.const f32x4 ${x} ${x} ${x} ${x})`;

/**
 * The sigmoid of the four lanes of local `v`, in place: `1 / (1 + exp(-v))`. exp(x): x = n ln2 + r with n
 * the nearest integer to x log2(e) (added to 1.5 2^23, whose last mantissa bits then hold n, and which
 * shifted left by 23 gives n's exponent bits), |r| <= ln2 / 2, e^r by Cephes' degree-7 polynomial for expf
 * (about 1 ulp). x is clamped to [ln 2^-126, ln 2^128]: exp is 2^-126 below, +inf above (where the
 * sigmoid is 1 and 0 to float32 precision).
 */
function sigmoid(v: string): string {
  const poly = [
    '1.3981999507e-3',
    '8.3334519073e-3',
    '4.1665795894e-2',
    '1.6666665459e-1',
    '5.0000001201e-1',
  ];
  return [
    `(local.set $ex (f32x4.neg (local.get ${v})))`,
    `(local.set $ex (f32x4.max (f32x4.min (local.get $ex) ${splat('88.72283935546875')}) ${splat('-87.33654475055310898')}))`,
    `(local.set $ej (f32x4.add (f32x4.mul (local.get $ex) ${splat('1.44269504088896341')}) ${splat('12582912')}))`,
    `(local.set $ez (f32x4.sub (local.get $ej) ${splat('12582912')}))`,
    `(local.set $ex (f32x4.sub (local.get $ex) (f32x4.mul (local.get $ez) ${splat('0.693359375')})))`,
    `(local.set $ex (f32x4.sub (local.get $ex) (f32x4.mul (local.get $ez) ${splat('-2.12194440e-4')})))`,
    `(local.set $ez (f32x4.mul (local.get $ex) (local.get $ex)))`,
    `(local.set $ey ${splat('1.9875691500e-4')})`,
    ...poly.map((c) => `(local.set $ey (f32x4.add (f32x4.mul (local.get $ey) (local.get $ex)) ${splat(c)}))`),
    `(local.set $ey (f32x4.add (f32x4.add (f32x4.mul (local.get $ey) (local.get $ez)) (local.get $ex)) ${splat('1')}))`,
    `(local.set $ey (f32x4.mul (local.get $ey) (i32x4.add (i32x4.shl (local.get $ej) (i32.const 23)) (v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000))))`,
    `(local.set ${v} (f32x4.div ${splat('1')} (f32x4.add ${splat('1')} (local.get $ey))))`,
  ].join('\n');
}

/** tanh of the four lanes of local `v`, in place: `2 sigmoid(2 v) - 1`. */
function tanh(v: string): string {
  return [
    `(local.set ${v} (f32x4.add (local.get ${v}) (local.get ${v})))`,
    sigmoid(v),
    `(local.set ${v} (f32x4.sub (f32x4.add (local.get ${v}) (local.get ${v})) ${splat('1')}))`,
  ].join('\n');
}

/** Expand the line macros `;; @sigmoid $v` and `;; @tanh $v` of the kernels' text. */
export function expandMacros(source: string): string {
  return source.replace(
    /^(\s*);; @(sigmoid|tanh) (\$\w+)[ \t]*$/gm,
    (_, indent: string, op: string, v: string) =>
      (op === 'sigmoid' ? sigmoid(v) : tanh(v))
        .split('\n')
        .map((line) => indent + line)
        .join('\n'),
  );
}

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

function wrap(s: string): string {
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 100) lines.push(`  '${s.slice(i, i + 100)}'`);
  return lines.join(' +\n');
}

/** The text of src/native-module.ts. */
export function renderNativeModule(modules: NativeModules): string {
  return `// Generated from native/kernels.wat by \`pnpm native\` (scripts/native.ts): do not edit.

/** The native kernels importing a shared memory (the wasm backend's threaded build), base64. */
export const NATIVE_SHARED =
${wrap(base64(modules.shared))};

/** The native kernels importing a plain memory, base64. */
export const NATIVE_PLAIN =
${wrap(base64(modules.plain))};
`;
}
