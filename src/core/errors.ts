// Every failure a user can cause (bad path, bad header, bad shape, unsupported size) is a HaloError with a
// stable code, so the CLI can print one clear line and exit non-zero, and tests can assert on the code.
export type ErrorCode =
  | 'E_SHAPE' // operand shapes do not fit together
  | 'E_DTYPE' // a dtype the operation does not take
  | 'E_UNSUPPORTED' // a size or option the library cannot handle (message says what would work)
  | 'E_ARG' // a bad argument or CLI flag
  | 'E_IO' // file missing / unreadable
  | 'E_FORMAT' // a file's contents are malformed
  | 'E_NUMERIC' // NaN/Inf where a finite value is required
  | 'E_NATIVE' // the native addon failed or is unavailable
  | 'E_DEVICE' // a device backend (WebGPU) failed a kernel
  | 'E_MEMORY' // the run's memory plan does not fit the machine
  | 'E_MPI'; // the Open MPI binding is missing or a collective failed

export class HaloError extends Error {
  override name = 'HaloError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new HaloError(code, message);
}
