export class BackupCancelledError extends Error {
  constructor() {
    super('backup cancelled');
    this.name = 'BackupCancelledError';
  }
}

/** The run failed; `cleanupFailures` lists teardown steps that also failed (then the journal is kept). */
export class BackupFailedError extends Error {
  constructor(
    message: string,
    readonly cleanupFailures: Array<{ name: string; error: string }>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackupFailedError';
  }
}
