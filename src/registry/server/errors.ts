// The registry's errors as the OCI distribution spec writes them: a code from the spec's table, its
// HTTP status, and a body {"errors":[{"code","message","detail"}]}. Handlers throw RegistryError; the
// server turns it into the response in one place (server.ts).
export type ErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID' | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID' | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'TAG_INVALID'
  | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'RANGE_INVALID' | 'PAGINATION_NUMBER_INVALID' | 'TOOMANYREQUESTS' | 'UNKNOWN';

const STATUS: Record<ErrorCode, number> = {
  BLOB_UNKNOWN: 404, BLOB_UPLOAD_INVALID: 400, BLOB_UPLOAD_UNKNOWN: 404, DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400, MANIFEST_INVALID: 400, MANIFEST_UNKNOWN: 404, NAME_INVALID: 400, NAME_UNKNOWN: 404,
  SIZE_INVALID: 400, TAG_INVALID: 400, UNAUTHORIZED: 401, DENIED: 403, UNSUPPORTED: 405, RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400, TOOMANYREQUESTS: 429, UNKNOWN: 500,
};

const MESSAGE: Record<ErrorCode, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry', BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry', DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'manifest references a manifest or blob unknown to registry', MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown', NAME_INVALID: 'invalid repository name', NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length', TAG_INVALID: 'manifest tag did not match URI',
  UNAUTHORIZED: 'authentication required', DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported', RANGE_INVALID: 'invalid content range',
  PAGINATION_NUMBER_INVALID: 'invalid number of results requested', TOOMANYREQUESTS: 'too many requests',
  UNKNOWN: 'unknown error',
};

export class RegistryError extends Error {
  readonly status: number;
  /** Extra response headers (Range on 416, WWW-Authenticate on 401). */
  headers: Record<string, string> = {};
  constructor(readonly code: ErrorCode, readonly detail?: unknown, message?: string, status?: number) {
    super(message ?? MESSAGE[code]);
    this.status = status ?? STATUS[code];
  }
  body(): string {
    return JSON.stringify({ errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }] });
  }
}

export const regErr = (code: ErrorCode, detail?: unknown, message?: string, status?: number) => new RegistryError(code, detail, message, status);
