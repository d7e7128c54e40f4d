// Errors are typed once here; the API maps each kind to Docker's HTTP status in one place (api/router.ts).

export type ErrorKind =
  | 'invalid'        // 400: the request is wrong; the message says how to fix it
  | 'unauthorized'   // 401
  | 'forbidden'      // 403
  | 'notFound'       // 404
  | 'conflict'       // 409: the state of things forbids it (name in use, running container...)
  | 'notModified'    // 304: already in the requested state (start a running container)
  | 'unavailable'    // 503
  | 'internal';      // 500: a bug or an unexpected system failure

const STATUS: Record<ErrorKind, number> = {
  invalid: 400, unauthorized: 401, forbidden: 403, notFound: 404, conflict: 409,
  notModified: 304, unavailable: 503, internal: 500,
};

export class BargeError extends Error {
  readonly kind: ErrorKind;
  /** Extra machine-readable detail, e.g. the exit code a failed start maps to (126/127). */
  readonly detail?: Record<string, unknown>;
  constructor(kind: ErrorKind, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.kind = kind;
    this.detail = detail;
  }
  get status(): number { return STATUS[this.kind]; }
}

export const invalid = (msg: string, detail?: Record<string, unknown>) => new BargeError('invalid', msg, detail);
export const notFound = (msg: string) => new BargeError('notFound', msg);
export const conflict = (msg: string) => new BargeError('conflict', msg);
export const notModified = (msg = '') => new BargeError('notModified', msg);
export const unauthorized = (msg: string) => new BargeError('unauthorized', msg);
export const forbidden = (msg: string) => new BargeError('forbidden', msg);
export const internal = (msg: string, detail?: Record<string, unknown>) => new BargeError('internal', msg, detail);

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof BargeError && err.kind === kind;
}

export function statusOf(err: unknown): number {
  return err instanceof BargeError ? err.status : 500;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
