import { useDeferredValue, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { RunLogLine } from '../../../shared/contract';
import { Field } from '../../components/Field';
import { LOG_VIEW_LIMIT, filterLog, logAsText, type LogLevelFilter } from '../../store/runs';
import { LogLine } from './LogLine';

/**
 * The live log: a level filter, a search box and "Copy log". Renders only the
 * newest LOG_VIEW_LIMIT matching lines so thousands of lines stay responsive,
 * and follows new lines while scrolled to the bottom.
 */
export function LogView({ lines }: { lines: RunLogLine[] }) {
  const [level, setLevel] = useState<LogLevelFilter>('all');
  const [search, setSearch] = useState('');
  const [copied, setCopied] = useState<string | null>(null);
  const deferredSearch = useDeferredValue(search);
  const shown = useMemo(() => filterLog(lines, { level, search: deferredSearch }), [lines, level, deferredSearch]);
  const box = useRef<HTMLOListElement>(null);
  const follow = useRef(true);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [shown]);

  const copy = async () => {
    const all = filterLog(lines, { level, search }, Number.POSITIVE_INFINITY).lines;
    if (!navigator.clipboard?.writeText) {
      setCopied('The clipboard is not available here.');
      return;
    }
    try {
      await navigator.clipboard.writeText(logAsText(all));
      setCopied(`Copied ${all.length} ${all.length === 1 ? 'line' : 'lines'}.`);
    } catch (err) {
      setCopied(`Could not copy: ${(err as Error).message}`);
    }
  };

  return (
    <div className="log-view">
      <div className="log-toolbar">
        <Field label="Level">
          {(p) => (
            <select {...p} value={level} onChange={(e) => setLevel(e.target.value as LogLevelFilter)}>
              <option value="all">All</option>
              <option value="info">Info and above</option>
              <option value="warn">Warnings and errors</option>
              <option value="error">Errors only</option>
            </select>
          )}
        </Field>
        <Field label="Search log">
          {(p) => <input {...p} type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="text, VM or disk" />}
        </Field>
        <button type="button" onClick={() => void copy()}>
          Copy log
        </button>
        {copied && (
          <span role="status" className="muted">
            {copied}
          </span>
        )}
      </div>
      <p className="hint">
        {shown.matched > LOG_VIEW_LIMIT
          ? `Showing the newest ${LOG_VIEW_LIMIT} of ${shown.matched} matching lines.`
          : `${shown.matched} ${shown.matched === 1 ? 'line' : 'lines'}${shown.matched !== lines.length ? ` of ${lines.length}` : ''}.`}
      </p>
      <ol
        className="log"
        aria-label="Run log"
        ref={box}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {shown.lines.map((line) => (
          <LogLine key={line.seq} line={line} />
        ))}
      </ol>
    </div>
  );
}
