import type { Command } from '../args.js';
import { benchRetrievalCommand } from './bench-retrieval.js';
import { BSE_COMMANDS } from './bse.js';
import { doctorCommand } from './doctor.js';

/**
 * Every subcommand of `compactrec`. A new subcommand is one module in this folder exporting a
 * {@link Command}, plus one line here.
 */
export const COMMANDS: readonly Command[] = [benchRetrievalCommand, doctorCommand, ...BSE_COMMANDS];
