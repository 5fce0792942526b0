/**
 * Runs `fn` over `items` with at most `limit` at a time, in item order per
 * worker, and waits for ALL of them even when one fails (a half-finished
 * sibling must not be left running unseen), then throws the first error.
 * Host commands run in parallel on one SSH connection this way: each costs a
 * channel setup (about 100 ms), so eight disks no longer cost eight in a row.
 */
export const HOST_PARALLELISM = 4;

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}
