/**
 * The single source of truth for the structure of a version-1 policy. `validate` walks these nodes and
 * `policySchema` turns them into JSON Schema (draft 2020-12); a test pins the generated schema.json.
 */
import { FORMAT_MAJOR, FORMAT_NAME } from './types.js';

export interface Described {
  readonly description: string;
}
export interface ConstNode extends Described {
  readonly kind: 'const';
  readonly value: string;
}
export interface StringNode extends Described {
  readonly kind: 'string';
  readonly pattern?: string;
  readonly minLength: number;
  readonly maxLength: number;
  readonly enum?: readonly string[];
}
export interface IntegerNode extends Described {
  readonly kind: 'integer';
  readonly minimum: number;
}
export interface NumberNode extends Described {
  readonly kind: 'number';
  readonly minimum?: number;
  readonly exclusiveMinimum?: number;
  readonly maximum?: number;
}
export interface PropertySpec {
  readonly node: SpecNode;
  readonly required: boolean;
}
export interface ObjectNode extends Described {
  readonly kind: 'object';
  readonly properties: Readonly<Record<string, PropertySpec>>;
  /** Keys that may only appear together with another key. */
  readonly dependentRequired?: Readonly<Record<string, readonly string[]>>;
}
export interface ArrayNode extends Described {
  readonly kind: 'array';
  readonly items: SpecNode;
}
export interface UnionNode extends Described {
  readonly kind: 'union';
  readonly discriminator: string;
  readonly variants: Readonly<Record<string, ObjectNode>>;
}
export interface JsonNode extends Described {
  readonly kind: 'json';
}
export type SpecNode =
  | ConstNode
  | StringNode
  | IntegerNode
  | NumberNode
  | ObjectNode
  | ArrayNode
  | UnionNode
  | JsonNode;

const req = (node: SpecNode): PropertySpec => ({ node, required: true });
const opt = (node: SpecNode): PropertySpec => ({ node, required: false });
const int = (minimum: number, description: string): IntegerNode => ({
  kind: 'integer',
  minimum,
  description,
});
const storeKind: StringNode = {
  kind: 'string',
  enum: ['hidden', 'internal'],
  minLength: 1,
  maxLength: 8,
  description: 'A hidden checkpoint (1 slot) or an internal checkpoint (alpha slots).',
};

export const forwardNode: ObjectNode = {
  kind: 'object',
  description:
    'Run forward steps from+1..to from the held state at position from, optionally storing checkpoints.',
  properties: {
    op: req({ kind: 'const', value: 'forward', description: 'The instruction.' }),
    from: req(int(0, 'Position of the held state the steps start from.')),
    to: req(int(1, 'Last step computed; from < to <= steps.')),
    store: opt(storeKind),
    stride: opt(
      int(1, 'Store every stride steps from from; defaults to to - from (only at to), which may be written.'),
    ),
  },
  dependentRequired: { stride: ['store'] },
};

export const backwardNode: ObjectNode = {
  kind: 'object',
  description: 'Run backward steps from, from-1, .., to; from must be the next pending backward step.',
  properties: {
    op: req({ kind: 'const', value: 'backward', description: 'The instruction.' }),
    from: req(int(1, 'First backward step; from <= steps.')),
    to: req(int(1, 'Last backward step; to <= from.')),
  },
};

export const freeNode: ObjectNode = {
  kind: 'object',
  description: 'Release a held checkpoint.',
  properties: {
    op: req({ kind: 'const', value: 'free', description: 'The instruction.' }),
    kind: req(storeKind),
    at: req(int(0, 'Position of the checkpoint; <= steps.')),
  },
};

export const instructionNode: UnionNode = {
  kind: 'union',
  discriminator: 'op',
  description: 'One instruction of the body.',
  variants: { forward: forwardNode, backward: backwardNode, free: freeNode },
};

/** The root node of a version-1 policy. */
export const policyNode: ObjectNode = {
  kind: 'object',
  description:
    'A Rewind policy: the complete schedule of one backward pass through time (docs/policy-format.md). Integers are written without fraction or exponent, which JSON Schema cannot express; nor can it express limits, rules across fields or the replay.',
  properties: {
    format: req({ kind: 'const', value: FORMAT_NAME, description: 'Identifies the format.' }),
    version: req({
      kind: 'string',
      pattern: `^${FORMAT_MAJOR}\\.(0|[1-9][0-9]{0,5})$`,
      minLength: 3,
      maxLength: 8,
      description: 'Format version "MAJOR.MINOR"; readers refuse a major version they do not know.',
    }),
    steps: req(int(1, 'The number of recurrent steps T.')),
    strategy: req({
      kind: 'string',
      pattern: '^[A-Za-z0-9._:+-]+$',
      minLength: 1,
      maxLength: 128,
      description: 'The planner that produced the policy, e.g. "msm".',
    }),
    costModel: req({
      kind: 'object',
      description: 'The cost model the policy was planned under.',
      properties: {
        alpha: req({
          kind: 'number',
          minimum: 1,
          description: 'Internal-state size over hidden-state size.',
        }),
        forwardCost: req({ kind: 'number', exclusiveMinimum: 0, description: 'Cost of one forward step.' }),
        backwardCost: req({ kind: 'number', minimum: 0, description: 'Cost of one backward step.' }),
      },
    }),
    budget: req({
      kind: 'object',
      description: 'The checkpoint memory budget.',
      properties: {
        slots: req({
          kind: 'number',
          exclusiveMinimum: 0,
          description: 'Budget in hidden-state slots, counting the slot of the initial state.',
        }),
        bytes: opt(int(0, 'Budget in bytes; checked only when stateBytes is present.')),
      },
    }),
    stateBytes: opt({
      kind: 'object',
      description: 'Byte sizes of one checkpoint of each kind.',
      properties: {
        hidden: req(int(1, 'Bytes of a hidden checkpoint.')),
        internal: req(int(1, 'Bytes of an internal checkpoint.')),
      },
    }),
    totals: req({
      kind: 'object',
      description: 'Totals predicted by the planner and proven by verification.',
      properties: {
        forwards: req(int(0, 'Forward step computations, recomputations included.')),
        backwards: req(int(0, 'Backward step computations; equals steps.')),
        peakSlots: req({ kind: 'number', minimum: 0, description: 'Peak live checkpoint memory in slots.' }),
        peakBytes: opt(
          int(
            0,
            'Peak live checkpoint memory in bytes; present if and only if stateBytes is (checked by verify).',
          ),
        ),
      },
    }),
    meta: opt({
      kind: 'json',
      description:
        'Free-form JSON object, at most 16 levels deep and 64 KiB of canonical JSON; never changes how the policy runs.',
    }),
    instructions: req({ kind: 'array', items: instructionNode, description: 'The body.' }),
  },
};
