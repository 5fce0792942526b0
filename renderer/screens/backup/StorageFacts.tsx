import type { StorageInfo } from '../../../shared/contract';
import { formatBytes } from '../../format';

/** What "Check" found out about a storage. */
export function StorageFacts({ storage, neededBytes }: { storage: StorageInfo; neededBytes: number }) {
  const short = !storage.thin && neededBytes > storage.freeBytes;
  return (
    <div className="panel storage-facts" role="status" aria-label="Storage check">
      <dl className="facts inline">
        <dt>Storage</dt>
        <dd className="mono">{storage.spec}</dd>
        <dt>Kind</dt>
        <dd>
          {storage.kind} ({storage.thin ? 'thin' : 'thick'})
        </dd>
        <dt>Free</dt>
        <dd>{formatBytes(storage.freeBytes)}</dd>
        <dt>Formats</dt>
        <dd>{storage.formats.join(', ')}</dd>
      </dl>
      {short && (
        <p className="warning">
          The selected data disks need {formatBytes(neededBytes)} on this thick storage, but only {formatBytes(storage.freeBytes)} is free.
        </p>
      )}
    </div>
  );
}
