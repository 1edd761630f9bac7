// JSON Schema validation of the configuration (ajv). This is also where every schema default is
// applied, once: ajv's useDefaults fills each missing field that has a `default` (nested blocks
// included, since each block defaults to {}), so the resolver reads them without fallbacks.
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigSchema, type ConfigInput } from './schema.js';
import { KubernetesIssuerSchema, type KubernetesIssuerInput } from './issuer-schema.js';
import { ConfigError, dedupeProblems, type ConfigProblem } from './problems.js';
import { ADDRESS_PATTERN } from './schema-parts.js';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const validateSchema = ajv.compile(ConfigSchema);
const fillKubernetesIssuer = ajv.compile(KubernetesIssuerSchema);

/** `/issuers/0/jwksUri` → `issuers[0].jwksUri` */
function jsonPointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/**
 * Patterns whose error names the expected form rather than the field's description (the listen
 * addresses' descriptions say what each listener is for; the error says how to write one).
 */
const PATTERN_FORMS: Readonly<Record<string, string>> = { [ADDRESS_PATTERN]: 'host:port' };

function describeAjvError(e: ErrorObject): ConfigProblem {
  const base = jsonPointerToPath(e.instancePath);
  const join = (child: string) => (base ? `${base}.${child}` : child);
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: join(String(e.params.additionalProperty)), message: 'unknown field (check spelling)' };
    case 'required':
      return { path: join(String(e.params.missingProperty)), message: 'is required' };
    case 'pattern': {
      const description = PATTERN_FORMS[String(e.params.pattern)] ?? (e.parentSchema as { description?: string } | undefined)?.description;
      return { path: base, message: description ? `must be ${description}` : `must match ${String(e.params.pattern)}` };
    }
    case 'enum':
      return { path: base, message: `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}` };
    default:
      return { path: base, message: e.message ?? e.keyword };
  }
}

/**
 * A validated copy of `raw` with every schema default filled in. Throws ConfigError listing every
 * schema problem.
 */
export function validateConfigInput(raw: unknown, source: string): ConfigInput {
  const input = structuredClone(raw ?? {}) as ConfigInput;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(source, [{ path: '', message: 'must be a mapping' }]);
  }
  if (!validateSchema(input)) {
    throw new ConfigError(source, dedupeProblems((validateSchema.errors ?? []).filter((e) => e.keyword !== 'anyOf').map(describeAjvError)));
  }
  return input;
}

/** `kubernetes: true` on an issuer: the preset block with every default of its schema. */
export function kubernetesIssuerPreset(): KubernetesIssuerInput {
  const preset: KubernetesIssuerInput = {};
  fillKubernetesIssuer(preset);
  return preset;
}
