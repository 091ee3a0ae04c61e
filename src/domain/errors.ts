/** One problem found in user input; expected errors are values, never exceptions. */
export interface Issue {
  /** The parameter (or variable, or label) that was wrong. */
  param: string;
  /** The offending value, shortened for display. */
  value?: string;
  message: string;
  /**
   * `incomplete`: an HTTP service without path or domain (docker-flow-proxy answered 409, which its listener
   * counts as done); `invalid`: anything else.
   */
  kind: 'invalid' | 'incomplete';
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

/** A typed failure with a stable code (http/errors.ts says which HTTP status a code is). */
export class FlowError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlowError';
    this.code = code;
  }
}

/** Shortens a value for an error message and makes control characters visible. */
export function shown(value: string, max = 80): string {
  const visible = value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return visible.length > max ? `${visible.slice(0, max)}…` : visible;
}

export function issue(param: string, value: string | undefined, message: string, kind: Issue['kind'] = 'invalid'): Issue {
  return value === undefined ? { param, message, kind } : { param, value: shown(value), message, kind };
}

/** Renders issues as one human sentence per issue, joined. */
export function describeIssues(issues: readonly Issue[]): string {
  return issues.map((i) => i.message).join(' ');
}
