// Building blocks the configuration schemas share (config, policy and webhook blocks).
import { Type, type TUnsafe } from '@sinclair/typebox';

/** A string enum as plain JSON Schema `enum` (clearer ajv errors than TypeBox's anyOf of literals). */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A listen address: "host:port", ":port" or "[v6]:port". */
export const ADDRESS_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]*):[0-9]{1,5}$';
