import { type ObjectNode, policyNode, type SpecNode } from './spec.js';
import { FORMAT_MAJOR, FORMAT_MINOR } from './types.js';

type Schema = { [key: string]: unknown };

function objectSchema(node: ObjectNode): Schema {
  const properties: Schema = {};
  const required: string[] = [];
  for (const [key, spec] of Object.entries(node.properties)) {
    properties[key] = toSchema(spec.node);
    if (spec.required) required.push(key);
  }
  const out: Schema = { type: 'object', description: node.description, properties, required };
  if (node.dependentRequired !== undefined) out['dependentRequired'] = node.dependentRequired;
  out['additionalProperties'] = false;
  return out;
}

function toSchema(node: SpecNode): Schema {
  switch (node.kind) {
    case 'const':
      return { const: node.value, description: node.description };
    case 'string': {
      const out: Schema = { type: 'string', description: node.description };
      if (node.enum !== undefined) out['enum'] = node.enum;
      else {
        out['minLength'] = node.minLength;
        out['maxLength'] = node.maxLength;
        if (node.pattern !== undefined) out['pattern'] = node.pattern;
      }
      return out;
    }
    case 'integer':
      return {
        type: 'integer',
        description: node.description,
        minimum: node.minimum,
        maximum: Number.MAX_SAFE_INTEGER,
      };
    case 'number': {
      const out: Schema = { type: 'number', description: node.description };
      if (node.minimum !== undefined) out['minimum'] = node.minimum;
      if (node.exclusiveMinimum !== undefined) out['exclusiveMinimum'] = node.exclusiveMinimum;
      if (node.maximum !== undefined) out['maximum'] = node.maximum;
      return out;
    }
    case 'object':
      return objectSchema(node);
    case 'array':
      return { type: 'array', description: node.description, items: toSchema(node.items) };
    case 'union':
      return {
        description: node.description,
        oneOf: Object.values(node.variants).map((variant) => objectSchema(variant)),
      };
    case 'json':
      return { type: 'object', description: node.description };
  }
}

/**
 * The JSON Schema (draft 2020-12) of a policy of this library's version, generated from the same
 * definition `validate` uses. Published as `@rewind/policy/schema.json`.
 */
export function policySchema(): Schema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `urn:rewind:schema:policy:${FORMAT_MAJOR}.${FORMAT_MINOR}`,
    title: `Rewind policy, version ${FORMAT_MAJOR}.${FORMAT_MINOR}`,
    ...objectSchema(policyNode),
  };
}
