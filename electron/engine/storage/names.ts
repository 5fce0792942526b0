/**
 * Name rules of each storage kind, checked before any name reaches a host. A name that
 * passes is still sent only as a quoted argument; these checks exist so a bad name fails
 * early with a message the user can act on, and so `free` can never be pointed outside
 * the storage (a `/` or `..` in a file name, a `@snapshot` in a zvol name).
 */
import { StorageSpecError } from './errors.js';

/** File names in a dir storage: one path component, no NUL or newline. */
export function checkFileName(name: string, what = 'image name'): string {
  if (name === '') throw new StorageSpecError(`${what} is empty`);
  if (name === '.' || name === '..') throw new StorageSpecError(`${what} cannot be "${name}"`);
  if (name.includes('/')) throw new StorageSpecError(`${what} ${JSON.stringify(name)} contains "/"`);
  if (/[\0\n\r]/.test(name)) throw new StorageSpecError(`${what} ${JSON.stringify(name)} contains a NUL or line break`);
  if (Buffer.byteLength(name) > 255) throw new StorageSpecError(`${what} ${JSON.stringify(name)} is longer than 255 bytes`);
  return name;
}

/** An absolute directory path, normalized (no `.`/`..`/`//`, no trailing slash). */
export function checkDirPath(path: string): string {
  if (path === '') throw new StorageSpecError('the path is empty (expected dir:/absolute/path)');
  if (!path.startsWith('/')) throw new StorageSpecError(`${JSON.stringify(path)} is not an absolute path (expected dir:/absolute/path)`);
  if (/[\0\n\r]/.test(path)) throw new StorageSpecError(`path ${JSON.stringify(path)} contains a NUL or line break`);
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

// lvm2 lib/misc/lvm-string.c: validate_name() and lvname_has_reserved_component_string().
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/;
const LVM_RESERVED_PREFIXES = ['snapshot', 'pvmove'];
const LVM_RESERVED_PARTS = ['_cdata', '_cmeta', '_corig', '_cpool', '_cvol', '_wcorig', '_mlog', '_mimage', '_pmspare', '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata', '_vorigin'];

function checkLvmName(name: string, what: string): string {
  if (name === '') throw new StorageSpecError(`${what} is empty`);
  if (name === '.' || name === '..') throw new StorageSpecError(`${what} cannot be "${name}"`);
  if (name.length > 127) throw new StorageSpecError(`${what} "${name.slice(0, 40)}..." is longer than 127 characters`);
  if (!LVM_NAME.test(name)) {
    throw new StorageSpecError(`${what} ${JSON.stringify(name)} is not a valid LVM name (letters, digits and + _ . - only, not starting with -)`);
  }
  return name;
}

export function checkVgName(name: string): string {
  return checkLvmName(name, 'volume group name');
}

/** LV names (thin pools and images): the VG rules plus LVM's reserved prefixes and suffixes. */
export function checkLvName(name: string, what = 'logical volume name'): string {
  checkLvmName(name, what);
  const prefix = LVM_RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) throw new StorageSpecError(`${what} "${name}" starts with "${prefix}", which LVM reserves`);
  const part = LVM_RESERVED_PARTS.find((p) => name.includes(p));
  if (part) throw new StorageSpecError(`${what} "${name}" contains "${part}", which LVM reserves`);
  return name;
}

// OpenZFS module/zcommon/zfs_namecheck.c: valid_char(), pool_namecheck(), entity_namecheck().
const ZFS_COMPONENT = /^[A-Za-z0-9_.: -]+$/;
const ZFS_MAX_NAME = 255;

function checkZfsComponent(component: string, whole: string): void {
  if (component === '') throw new StorageSpecError(`ZFS name "${whole}" has an empty component`);
  if (component === '.' || component === '..') throw new StorageSpecError(`ZFS name "${whole}" has a "${component}" component`);
  if (!ZFS_COMPONENT.test(component)) {
    throw new StorageSpecError(`ZFS name ${JSON.stringify(whole)} may hold only letters, digits, space and _ . : - in each component (no @, #, %)`);
  }
}

/** A dataset that holds zvols: `pool` or `pool/child/...`. */
export function checkZfsDataset(dataset: string): string {
  if (dataset === '') throw new StorageSpecError('the dataset is empty (expected zfs:pool/dataset)');
  if (dataset.length > ZFS_MAX_NAME) throw new StorageSpecError(`ZFS name "${dataset.slice(0, 40)}..." is longer than ${ZFS_MAX_NAME} characters`);
  const parts = dataset.split('/');
  for (const part of parts) checkZfsComponent(part, dataset);
  const pool = parts[0] as string;
  if (!/^[A-Za-z]/.test(pool)) throw new StorageSpecError(`ZFS pool name "${pool}" must begin with a letter`);
  // libzfs zpool_name_valid(): these prefixes (and "log") name vdev types, not pools.
  if (/^(mirror|raidz|draid|spare)/.test(pool) || pool === 'log') throw new StorageSpecError(`ZFS pool name "${pool}" is reserved`);
  if (/^c\d/.test(pool)) throw new StorageSpecError(`ZFS pool name "${pool}" looks like a disk name (c0...), which ZFS refuses`);
  return dataset;
}

/** A zvol's own name below the storage's dataset (one component; we never use spaces). */
export function checkZvolName(name: string, dataset: string): string {
  if (name === '') throw new StorageSpecError('zvol name is empty');
  if (name.includes(' ')) throw new StorageSpecError(`zvol name ${JSON.stringify(name)} contains a space`);
  if (name.includes('/')) throw new StorageSpecError(`zvol name ${JSON.stringify(name)} contains "/"`);
  checkZfsComponent(name, name);
  if (dataset.length + 1 + name.length > ZFS_MAX_NAME) {
    throw new StorageSpecError(`zvol name "${dataset}/${name}" is longer than ${ZFS_MAX_NAME} characters`);
  }
  return name;
}
