/**
 * The shared read-only datasets (../shared/datasets beside the checkout), for tests that read them.
 * Tests skip with a stated reason when a dataset is missing (`it.skipIf(missingData('gowalla'))`), except
 * under CI=true, where CI has the datasets and a missing one fails the run instead of skipping silently.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the datasets folder, with a trailing slash. */
export const DATASETS = fileURLToPath(new URL('../../shared/datasets/', import.meta.url));

/** Why tests of these datasets are skipped, for their titles. */
export const DATASETS_REASON = `skipped when ${DATASETS} is missing; fails instead under CI=true`;

/**
 * Whether any of `paths` (relative to {@link DATASETS}) is missing: true → skip. Under `CI=true` a
 * missing dataset throws, naming it.
 */
export function missingData(...paths: string[]): boolean {
  const missing = paths.filter((p) => !existsSync(join(DATASETS, p)));
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') {
    throw new Error(
      `datasets missing under CI=true: ${missing.join(', ')} in ${DATASETS}; CI must provide ../shared/datasets`,
    );
  }
  return true;
}
