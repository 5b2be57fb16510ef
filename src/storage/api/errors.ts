// Typed storage errors. Each carries a code that the runtime maps to gRPC / HTTP status, and for bad input the
// field at fault, so messages say what to fix.

export type StorageErrorCode = 'InvalidArgument' | 'Unavailable' | 'ResourceExhausted' | 'Unimplemented' | 'Internal';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/** Bad input from a caller: `field` names where, the message says what is wrong and what is expected. */
export class InvalidArgumentError extends StorageError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super('InvalidArgument', `${field}: ${reason}`);
    this.name = 'InvalidArgumentError';
  }
}

export class UnavailableError extends StorageError {
  constructor(message: string) {
    super('Unavailable', message);
    this.name = 'UnavailableError';
  }
}

/** The backend cannot take more data until space is freed (e.g. the embedded store's disk is full). */
export class ResourceExhaustedError extends StorageError {
  constructor(message: string) {
    super('ResourceExhausted', message);
    this.name = 'ResourceExhaustedError';
  }
}
