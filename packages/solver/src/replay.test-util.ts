import type { Policy } from '@rewind/policy';

/** An independent replay of a policy on the abstract machine of docs/policy-format.md (test oracle). */
export function replay(policy: Policy): {
  forwards: number;
  backwards: number;
  peakSlots: number;
  peakBytes: number;
} {
  const T = policy.steps;
  const alpha = policy.costModel.alpha;
  const sb = policy.stateBytes;
  const H = new Set<number>([0]);
  const S = new Set<number>();
  let next = T;
  let working = -1;
  let forwards = 0;
  let backwards = 0;
  const live = () => H.size + S.size * alpha;
  const liveBytes = () => (sb ? H.size * sb.hidden + S.size * sb.internal : 0);
  let peakSlots = live();
  let peakBytes = liveBytes();
  const held = (p: number) => H.has(p) || S.has(p);
  const fail = (i: number, msg: string): never => {
    throw new Error(`replay: instruction ${i}: ${msg}`);
  };
  policy.instructions.forEach((ins, i) => {
    if (ins.op === 'forward') {
      const { from: a, to: b } = ins;
      if (!(a >= 0 && a < b && b <= T)) fail(i, 'range');
      if (!held(a)) fail(i, `no source at ${a}`);
      forwards += b - a;
      if (ins.store !== undefined) {
        const k = ins.stride ?? b - a;
        if (!(k >= 1 && k <= b - a)) fail(i, 'stride');
        for (let p = a + k; p <= b; p += k) {
          if (ins.store === 'hidden') {
            if (H.has(p)) fail(i, `held ${p}`);
            if (p > next - 1) fail(i, `dead ${p}`);
            H.add(p);
          } else {
            if (S.has(p)) fail(i, `held ${p}`);
            if (p > next) fail(i, `dead ${p}`);
            S.add(p);
          }
          const l = live();
          if (l > policy.budget.slots * (1 + 1e-9)) fail(i, `budget ${l} > ${policy.budget.slots}`);
          if (sb && policy.budget.bytes !== undefined && liveBytes() > policy.budget.bytes)
            fail(i, 'byte budget');
          peakSlots = Math.max(peakSlots, l);
          peakBytes = Math.max(peakBytes, liveBytes());
        }
      } else if (ins.stride !== undefined) fail(i, 'stride without store');
      working = b;
    } else if (ins.op === 'backward') {
      const { from: b, to: a } = ins;
      if (b !== next || a < 1 || a > b) fail(i, `order ${b}..${a} next ${next}`);
      for (let t = b; t >= a; t--) {
        if (S.has(t)) {
          /* internal checkpoint */
        } else if (t === b && working === b) {
          /* working state */
        } else if (held(t - 1)) forwards++;
        else fail(i, `no state for ${t}`);
        backwards++;
        next = t - 1;
        for (const p of [...H]) if (p >= t - 1) H.delete(p);
        for (const p of [...S]) if (p >= t) S.delete(p);
      }
      working = -1;
    } else {
      const set = ins.kind === 'hidden' ? H : S;
      if (!set.has(ins.at)) fail(i, 'not held');
      set.delete(ins.at);
      working = -1;
    }
  });
  if (next !== 0) throw new Error('replay: incomplete');
  return { forwards, backwards, peakSlots, peakBytes };
}
