/** The TensorFlow.js namespace (`@tensorflow/tfjs`, or tfjs-node's superset of it when native is in use). */
export type Tf = typeof import('@tensorflow/tfjs');

/** A tfjs backend this package can select, by its tfjs name (`tensorflow` is tfjs-node's native backend). */
export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What the caller asks for: a backend by its common name, or `auto` (native, then wasm, then cpu). */
export type TfPreference = 'native' | 'wasm' | 'cpu' | 'auto';

/** Whether one backend can be used here, and why not. */
export interface BackendProbe {
  readonly backend: TfBackendName;
  readonly available: boolean;
  /** When unavailable: why, in one line, with what to do. When available: a short description. */
  readonly reason: string;
  /** Version of the package that implements the backend (and of libtensorflow for `tensorflow`). */
  readonly version?: string;
  /** Absolute path of the libtensorflow shared library tfjs-node loads (native only). */
  readonly libtensorflow?: string;
  /** Threads the backend computes with, when known. */
  readonly threads?: number;
}
