/**
 * Merges user options over frozen defaults once, at an entry point: only `undefined` falls back
 * to the default (so `0`, `false` and `''` are kept), and keys absent from the defaults pass through.
 */
export function resolveOptions<D extends object, O extends object>(defaults: D, options: O | undefined): D & O {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  if (options) for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as D & O;
}
