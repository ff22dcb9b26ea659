/** What every vendor's settings.ts shares: its variables parsed by a zod object, problems named. */
import type * as z from 'zod/mini';
import { VendorSettingsError } from '../adapter';

/**
 * Parses the environment with `schema` (an object of the vendor's own variables; others are
 * ignored). A failure throws VendorSettingsError with one `NAME: message` per problem, as loadSettings()
 * words them: the variable is named, its value never shown.
 */
export function parseVariables<T>(schema: z.ZodMiniType<T>, env: Record<string, string | undefined>): T {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new VendorSettingsError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return parsed.data;
}
