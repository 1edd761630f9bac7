import { Type, type TUnsafe } from '@sinclair/typebox';

/** A string enum as plain JSON Schema `enum` (clearer ajv errors than TypeBox's anyOf of literals). */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}
