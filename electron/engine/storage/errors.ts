/** A storage spec or an image name the user or a caller gave is not valid. */
export class StorageSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageSpecError';
  }
}

/** `allocate` refused: something with that name exists already (and was left untouched). */
export class ImageExistsError extends Error {
  constructor(
    readonly storage: string,
    readonly image: string,
    where: string,
  ) {
    super(`${where}: ${storage}: "${image}" exists already; refusing to overwrite it`);
    this.name = 'ImageExistsError';
  }
}

/** A storage command ran but its answer makes no sense (unexpected output, wrong size, ...). */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}
