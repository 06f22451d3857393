import type { Command } from '../args.js';
import { benchCtrCommand } from './bench-ctr.js';
import { benchRetrievalCommand } from './bench-retrieval.js';
import { BSE_COMMANDS } from './bse.js';
import { clusterCommand } from './cluster.js';
import { ctrEvalCommand, ctrTrainCommand } from './ctr.js';
import { ctrPredictCommand, ctrServeCommand } from './ctr-serve.js';
import { doctorCommand } from './doctor.js';
import { exportCommand } from './export.js';
import { reportCommand } from './report.js';

/**
 * Every subcommand of `compactrec`. A new subcommand is one module in this folder exporting a
 * {@link Command}, plus one line here.
 */
export const COMMANDS: readonly Command[] = [
  benchRetrievalCommand,
  benchCtrCommand,
  clusterCommand,
  ctrTrainCommand,
  ctrEvalCommand,
  ctrServeCommand,
  ctrPredictCommand,
  doctorCommand,
  reportCommand,
  exportCommand,
  ...BSE_COMMANDS,
];
