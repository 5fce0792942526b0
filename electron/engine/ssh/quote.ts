/**
 * The ONE quoting function for remote commands. Every command Shear runs on a
 * host is an argument array; each argument becomes one POSIX shell word that
 * the remote login shell turns back into exactly the original string.
 */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(arg: string): string {
  if (arg.includes('\0')) {
    // No shell word can carry a NUL: execve() would cut the argument there.
    throw new Error('a remote command argument cannot contain a NUL byte');
  }
  if (SAFE_WORD.test(arg)) return arg;
  // Inside single quotes nothing is special except the closing quote itself.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argument array into the command line sent over SSH. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty remote command');
  return argv.map(shellQuote).join(' ');
}
