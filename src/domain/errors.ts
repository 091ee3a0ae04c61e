/** One problem found in user input; expected errors are values, never exceptions. */
export interface Issue {
  /** The parameter (or variable, or label) that was wrong. */
  param: string;
  /** The offending value, shortened for display. */
  value?: string;
  message: string;
  /** HTTP status docker-flow-proxy uses for this problem. */
  status: 400 | 409;
}

/**
 * Something accepted with a meaning the caller may not expect (a value
 * docker-flow-proxy tolerated, an unknown parameter): the change is applied
 * and the answer, the log and `/services` say so.
 */
export interface Warning {
  param: string;
  value?: string;
  message: string;
}

export function warning(param: string, value: string | undefined, message: string): Warning {
  return value === undefined ? { param, message } : { param, value: shown(value), message };
}

/** A typed, unexpected failure with a stable code and an HTTP status. */
export class FlowError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlowError';
    this.code = code;
    this.status = status;
  }
}

/** Shortens a value for an error message and makes control characters visible. */
export function shown(value: string, max = 80): string {
  const visible = value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return visible.length > max ? `${visible.slice(0, max)}…` : visible;
}

export function issue(param: string, value: string | undefined, message: string, status: 400 | 409 = 400): Issue {
  return value === undefined ? { param, message, status } : { param, value: shown(value), message, status };
}

/** Renders issues as one human sentence per issue, joined. */
export function describeIssues(issues: readonly Issue[]): string {
  return issues.map((i) => i.message).join(' ');
}
