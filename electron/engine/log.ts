/** The one logging shape the engine speaks; each face (CLI, IPC, tests) renders it. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  level: LogLevel;
  message: string;
  /** Milliseconds since the epoch. */
  time: number;
}

export type Logger = (level: LogLevel, message: string) => void;

/** A logger that drops everything: for callers that do not care. */
export const silentLogger: Logger = () => {};

/** Collects lines in memory (tests, run buffers). */
export function memoryLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, log: (level, message) => lines.push({ level, message, time: Date.now() }) };
}
