import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { JS_KERNELS } from './js-kernels.js';
import type { Kernels } from './types.js';

export {
  CTR_GRAPH_ADDON_PATH,
  type CtrGraphAddon,
  type CtrTowerAdamStep,
  type CtrTowerGraphOptions,
  type CtrTowerHandle,
  loadCtrGraph,
} from './ctr-graph.js';
export { JS_KERNELS } from './js-kernels.js';
export { ROWS_ADDON_PATH, rowKernels, rowKernelsInfo } from './rows.js';
export {
  type BprBatches,
  type BprGrowthScoring,
  type BprOptimizer,
  type BprSampling,
  type BprTrainArgs,
  type BprTrainData,
  type BprTrainResult,
  COMBINE_CODE,
  type ComposeArgs,
  type Kernels,
  type LightGcnHops,
  type LightGcnTraining,
  QUANT_MODE_CODE,
  type RankTopKArgs,
  type SpmmArgs,
  type TowerArrays,
  type TowerCsr,
  type TowerQuant,
  type TowerSparse,
} from './types.js';

/** Where the addon is built (node-gyp, from csrc/): by the install script, or `npm run setup` in the repository. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../build/Release/compactrec_native.node', import.meta.url));

/** How to build the addon, for messages: an installed package and the repository differ. */
export const NATIVE_BUILD_HINT =
  'build it with `npm rebuild @compactrec/native` (needs a C++17 compiler, make and python3; approve its install script with `npm install-scripts approve @compactrec/native` if npm skipped it), or `npm run setup` in the CompactRec repository';

/**
 * The same kernels built with AVX2 + FMA (x64 only). The baseline build is portable to any x86-64 CPU;
 * this one is used when the CPU reports both features, so a binary never executes instructions its CPU
 * lacks. Rank and BPR kernels use 256-bit vectors, which the baseline build can only emulate.
 */
export const NATIVE_AVX2_ADDON_PATH = fileURLToPath(
  new URL('../build/Release/compactrec_native_avx2.node', import.meta.url),
);

/** Whether this CPU runs AVX2 + FMA code (Linux x64: /proc/cpuinfo flags; elsewhere false, the baseline is used). */
function cpuHasAvx2Fma(): boolean {
  if (process.arch !== 'x64' || process.platform !== 'linux') return false;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    return /^flags\s*:.*\bavx2\b/m.test(info) && /^flags\s*:.*\bfma\b/m.test(info);
  } catch {
    return false;
  }
}

/** The addon file this process loads: the AVX2 build when the CPU has it and it was built, else the baseline. */
function addonPath(): string {
  if (process.env.COMPACTREC_NATIVE_BUILD !== 'baseline' && existsSync(NATIVE_AVX2_ADDON_PATH) && cpuHasAvx2Fma()) {
    return NATIVE_AVX2_ADDON_PATH;
  }
  return NATIVE_ADDON_PATH;
}

let cached: { kernels: Kernels; reason: string } | undefined;

function load(): { kernels: Kernels; reason: string } {
  if (cached) return cached;
  if (process.env.COMPACTREC_KERNELS === 'js') {
    cached = { kernels: JS_KERNELS, reason: 'COMPACTREC_KERNELS=js' };
  } else if (!existsSync(NATIVE_ADDON_PATH)) {
    cached = { kernels: JS_KERNELS, reason: `native addon not built (${NATIVE_ADDON_PATH}); ${NATIVE_BUILD_HINT}` };
  } else {
    const path = addonPath();
    try {
      const addon = createRequire(import.meta.url)(path) as Omit<Kernels, 'kind'>;
      // N-API properties are not enumerable: bind each kernel explicitly.
      const kernels: Kernels = {
        kind: 'native',
        bprTrain: addon.bprTrain,
        composeEmbeddings: addon.composeEmbeddings,
        rankTopK: addon.rankTopK,
        spmm: addon.spmm,
      };
      cached = { kernels, reason: `loaded ${path}` };
    } catch (err) {
      cached = { kernels: JS_KERNELS, reason: `native addon failed to load: ${(err as Error).message}` };
    }
  }
  return cached;
}

/**
 * The fastest available kernels: the C++ addon when built, else the JavaScript versions (MF only
 * for training; same random stream, slower). `COMPACTREC_KERNELS=js` forces JavaScript.
 */
export function getKernels(): Kernels {
  return load().kernels;
}

/** Which kernels {@link getKernels} returns and why. */
export function kernelInfo(): { kind: 'native' | 'js'; reason: string } {
  const { kernels, reason } = load();
  return { kind: kernels.kind, reason };
}
