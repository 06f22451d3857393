import type { Tf } from '../types.js';

/**
 * tfjs-backend-cpu prints a multi-line "install our node backend" banner on its first tensor in Node. When
 * cpu is used here it was chosen (or the only choice) and the reason says so: skip the banner.
 */
export function silenceCpuBanner(tf: Tf): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu && cpu.firstUse === true) cpu.firstUse = false;
}
