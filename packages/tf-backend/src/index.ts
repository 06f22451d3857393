export {
  baseTf,
  DEFAULT_INIT_TF_OPTIONS,
  type InitTfOptions,
  initTf,
  nativeLibraryPath,
  type TfRuntime,
} from './init.js';
export { type BackendReport, type BackendReportOptions, backendReport } from './report.js';
export type { BackendProbe, Tf, TfBackendName, TfPreference } from './types.js';
