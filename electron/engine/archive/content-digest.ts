import type { StorageHost } from '../storage/storage.js';

/**
 * A checksum of what the guest reads from a disk image, independent of how the
 * image stores it (qcow2 or raw, sparse or not): the source of truth for verify
 * and restore.
 *
 * Algorithm `sha256-4MiB-chunks`: the guest-visible content is cut into 4 MiB
 * chunks (the last one shorter), each chunk is hashed with SHA-256, and the
 * digest is the SHA-256 of the concatenated 32-byte chunk digests — a hash
 * list, as Proxmox Backup Server keeps per chunk. It runs ON THE HOST, next to
 * the data: `qemu-img map` says which ranges are zeros (hashed without reading:
 * an 8 GiB disk with 64 MiB of data reads 64 MiB) and where the data sits in
 * the file; data is read with pread and hashed on two threads (Python's hashlib
 * runs at 1+ GB/s where coreutils' sha256sum manages ~190 MB/s). An image whose
 * data is not all in its own file (a backing file, compressed clusters, an
 * external data file) is first converted to a raw temp file beside it.
 * (`qemu-img convert ... /dev/stdout | sha256sum` is NOT a way: convert cannot
 * write to a pipe and the pipeline hashes empty input.)
 */
export const DIGEST_ALGORITHM = 'sha256-4MiB-chunks';
export const DIGEST_CHUNK = 4 * 1024 * 1024;

export interface ContentDigest {
  algorithm: typeof DIGEST_ALGORITHM;
  digest: string;
  /** Virtual size that was hashed. */
  size: number;
  /** Chunks that had to be read (the rest were zeros by the map). */
  dataChunks: number;
  zeroChunks: number;
}

const HASHER = String.raw`
import hashlib, json, os, shutil, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

def one_line_error(kind, value, tb):
    # A read error (a truncated image, EIO) in one line the caller can show, not a traceback.
    sys.stderr.write("%s\n" % (value,))
    sys.exit(5)
sys.excepthook = one_line_error

path, fmt, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Optional: hash only the first LIMIT bytes (a restored LV may be rounded up past the disk's size).
limit = int(sys.argv[4]) if len(sys.argv) > 4 else None

def qemu_img(*args):
    r = subprocess.run(["qemu-img", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        sys.stderr.write("qemu-img %s: %s" % (args[0], r.stderr))
        sys.exit(3)
    return json.loads(r.stdout)

def layout(p, f):
    info = qemu_img("info", "--output=json", "-U", "-f", f, p)
    extents = qemu_img("map", "--output=json", "-U", "-f", f, p)
    own = "backing-filename" not in info and "data-file" not in json.dumps(info.get("format-specific", {}))
    for e in extents:
        if e.get("data") and not e.get("zero") and (e.get("depth", 0) != 0 or "offset" not in e or e.get("compressed")):
            own = False
    return info["virtual-size"], extents, own

size, extents, own = layout(path, fmt)
tmpdir = None
src = path
if not own:
    tmpdir = tempfile.mkdtemp(prefix=".shear-digest-", dir=os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else None)
    src = os.path.join(tmpdir, "raw")
    r = subprocess.run(["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw", path, src], stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        shutil.rmtree(tmpdir, ignore_errors=True)
        sys.stderr.write("qemu-img convert: " + r.stderr)
        sys.exit(3)
    size, extents, own = layout(src, "raw")

try:
    if limit is not None:
        if size < limit:
            sys.stderr.write("%s is %d bytes, smaller than the %d to check\n" % (path, size, limit))
            sys.exit(4)
        size = limit
    fd = os.open(src, os.O_RDONLY)
    count = (size + chunk - 1) // chunk
    # Memory stays flat whatever the virtual size: chunks are planned as they come (the map is
    # in order), runs of whole zero chunks are hashed in bulk, and the top hash is fed in order.
    extents = sorted((e for e in extents if e["start"] < size), key=lambda e: e["start"])
    zeros = bytes(chunk)
    zero_digests = {}

    def zero_digest(length):
        if length not in zero_digests:
            zero_digests[length] = hashlib.sha256(zeros[:length]).digest()
        return zero_digests[length]

    def is_data(e):
        return bool(e.get("data")) and not e.get("zero")

    def digest(job):
        pieces = job
        h = hashlib.sha256()
        for n, off in pieces:
            if off is None:
                h.update(zeros[:n])
                continue
            while n > 0:
                b = os.pread(fd, min(n, chunk), off)
                if not b:
                    raise IOError("unexpected end of %s at %d" % (src, off))
                h.update(b)
                n -= len(b)
                off += len(b)
        return h.digest()

    top = hashlib.sha256()
    read = 0
    window = []

    def drain(limit):
        while len(window) > limit:
            item = window.pop(0)
            top.update(item if isinstance(item, bytes) else item.result())

    with ThreadPoolExecutor(max_workers=2) as pool:
        ei = 0
        i = 0
        while i < count:
            pos = i * chunk
            while ei < len(extents) and extents[ei]["start"] + extents[ei]["length"] <= pos:
                ei += 1
            e = extents[ei] if ei < len(extents) else None
            # A run of whole chunks with no data (a zero extent, a gap, or past the map's end).
            if e is None or e["start"] > pos or not is_data(e):
                run_end = size if e is None else (e["start"] if e["start"] > pos else e["start"] + e["length"])
                whole = (min(run_end, size) - pos) // chunk
                if e is not None and e["start"] <= pos and not is_data(e):
                    # Neighbouring zero extents continue the run.
                    j = ei + 1
                    end = e["start"] + e["length"]
                    while j < len(extents) and extents[j]["start"] == end and not is_data(extents[j]):
                        end = extents[j]["start"] + extents[j]["length"]
                        j += 1
                    whole = (min(end, size) - pos) // chunk
                if whole > 0:
                    drain(0)
                    left = whole
                    zd = zero_digest(chunk)
                    while left > 0:
                        n = min(left, 65536)
                        top.update(zd * n)
                        left -= n
                    i += whole
                    continue
            # One chunk made of pieces (data, zeros, or both).
            cend = min(size, pos + chunk)
            pieces = []
            p = pos
            k = ei
            while p < cend:
                while k < len(extents) and extents[k]["start"] + extents[k]["length"] <= p:
                    k += 1
                x = extents[k] if k < len(extents) else None
                if x is None or x["start"] > p:
                    stop = cend if x is None else min(cend, x["start"])
                    pieces.append((stop - p, None))
                else:
                    stop = min(cend, x["start"] + x["length"])
                    pieces.append((stop - p, x["offset"] + (p - x["start"]) if is_data(x) else None))
                p = stop
            if all(off is None for _, off in pieces):
                window.append(zero_digest(cend - pos))
            else:
                window.append(pool.submit(digest, pieces))
                read += 1
            drain(64)
            i += 1
        drain(0)
    top = top.hexdigest()
    print(json.dumps({"digest": top, "size": size, "dataChunks": read, "zeroChunks": count - read}))
finally:
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)
`;

/** The argv that prints the digest of an image as JSON (batchable: no stdin). */
export function contentDigestArgv(path: string, format: string, limit?: number): string[] {
  return ['python3', '-c', HASHER, path, format, String(DIGEST_CHUNK), ...(limit !== undefined ? [String(limit)] : [])];
}

export class DigestError extends Error {}

/**
 * How long a checksum may take: a hung read (a dead NFS server) must end some time, but a
 * big disk on a slow link must not: at least 6 hours, more for a disk too big to be read
 * at 20 MiB/s in that time.
 */
export function digestTimeoutMs(sizeBytes = 0): number {
  return Math.max(6 * 3600_000, Math.ceil(sizeBytes / (20 * 1024 * 1024)) * 1000);
}

/**
 * `limit`: hash only the first bytes (an image that may be larger than the disk it holds).
 * `sizeBytes`: the disk's size, when known, so the time allowed grows with it.
 */
export async function contentDigest(host: StorageHost, path: string, format: string, limit?: number, signal?: AbortSignal, sizeBytes = limit): Promise<ContentDigest> {
  // Long: never batched with other commands (see host-session), and cancellable.
  const r = await host.exec(contentDigestArgv(path, format, limit), { timeoutMs: digestTimeoutMs(sizeBytes), ...(signal ? { signal } : {}) });
  if (r.code === 127) throw new DigestError(`${host.label}: checksums need python3 on the host (Debian/Proxmox: apt install python3)`);
  if (r.code !== 0) throw new DigestError(`${host.label}: cannot compute the checksum of ${path}: ${(r.stderr || r.stdout).trim()}`);
  const out = JSON.parse(r.stdout) as Omit<ContentDigest, 'algorithm'>;
  return { algorithm: DIGEST_ALGORITHM, ...out };
}

/**
 * Whether an image still holds the content a checksum was taken of: `ok` with the
 * digest, or the problem in words (a mismatch, or an algorithm this Shear does not know).
 */
export async function checkContent(
  host: StorageHost,
  path: string,
  format: string,
  checksum: { algorithm: string; digest: string },
  limit?: number,
  signal?: AbortSignal,
  sizeBytes = limit,
): Promise<{ ok: true; digest: string } | { ok: false; problem: string }> {
  if (checksum.algorithm !== DIGEST_ALGORITHM) return { ok: false, problem: `unknown checksum algorithm ${checksum.algorithm}` };
  const sum = await contentDigest(host, path, format, limit, signal, sizeBytes);
  if (sum.digest !== checksum.digest) return { ok: false, problem: `content does not match its checksum (${DIGEST_ALGORITHM} expected ${checksum.digest}, got ${sum.digest})` };
  return { ok: true, digest: sum.digest };
}
