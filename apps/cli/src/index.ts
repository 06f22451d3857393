export {
  CliUsageError,
  type Command,
  formatHelp,
  type OptionSpec,
  type ParsedArgs,
  parseArgs,
  USAGE_EXIT_CODE,
} from './args.js';
export { COMMANDS } from './commands/index.js';
export { cliVersion, main } from './main.js';
