/** Resolves at the first SIGINT or SIGTERM (then stops listening), so a service command can shut down gracefully. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
