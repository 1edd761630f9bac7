// Building blocks the configuration schemas share (config, policy and webhook blocks).
import { Type, type TUnsafe } from '@sinclair/typebox';

/** A string enum as plain JSON Schema `enum` (clearer ajv errors than TypeBox's anyOf of literals). */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A listen address: "host:port", ":port" or "[v6]:port". */
// The port is 0-65535 in the pattern itself: listen() refuses more, so `validate` must too.
export const ADDRESS_PATTERN =
  '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]*):(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})$';
