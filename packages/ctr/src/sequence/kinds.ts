/**
 * The sequence CTR models. Every one feeds the same MLP with [other fields' embeddings, candidate
 * item embedding, long-term interest (if any), short-term interest]; they differ only in the
 * long-term module over the whole history (L behaviours):
 *
 * - `sdim`: SDIM (SimHash-sampled interest, Cao et al. CIKM'22);
 * - `din`: DIN target attention over the whole history (the paper's "DIN (long seq.)");
 * - `avgpool`: the mean of the history's embeddings;
 * - `din-short`: no long-term module.
 *
 * The short-term module is DIN target attention over the last `shortLength` behaviours in all four.
 */
export type SequenceModelKind = 'sdim' | 'din' | 'avgpool' | 'din-short';

/** Every {@link SequenceModelKind}. */
export const SEQUENCE_MODEL_KINDS: readonly SequenceModelKind[] = Object.freeze([
  'sdim',
  'din',
  'avgpool',
  'din-short',
]);

/** Whether `name` is a {@link SequenceModelKind} (CLI and benchmark dispatch). */
export function isSequenceModelKind(name: string): name is SequenceModelKind {
  return (SEQUENCE_MODEL_KINDS as readonly string[]).includes(name);
}
