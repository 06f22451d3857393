export { type Command, formatHelp, type OptionSpec, type ParsedArgs, parseArgs } from './args.js';
export { COMMANDS } from './commands/index.js';
export { main } from './main.js';
