// Entry script of an encoder instance run as a child process by the integration tests (so a test can
// SIGKILL it). Runs the BUILT package (packages/bse-stream/dist; the global set-up builds it).
// Usage: node test/support/bse-child.mjs '<BseServiceOptions as JSON>'
// Prints "READY <port>" on stdout once the HTTP API listens and the consumer has started; stops
// cleanly (leaves the group) on SIGTERM.
import { startBseService } from '@compactrec/bse-stream';

const options = JSON.parse(process.argv[2] ?? '{}');
const service = await startBseService({
  ...options,
  log: (level, message, extra) => {
    if (level !== 'info' || process.env.BSE_CHILD_VERBOSE)
      process.stderr.write(`${JSON.stringify({ level, message, ...extra })}\n`);
  },
});
process.stdout.write(`READY ${service.port}\n`);
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  service.stop().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`stop failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
