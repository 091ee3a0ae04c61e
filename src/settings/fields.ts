import path from 'node:path';
import { z } from 'zod';
import { checkRawLine, hasControl } from '../domain/haproxyText.js';
import { parseBool } from '../domain/values.js';
import type { BindSpec } from '../render/settings.js';

/** What parsing may ask of the machine; passed in, so that parsing itself does no I/O. */
export interface SettingsHost {
  /** Relative paths are resolved against this directory. */
  cwd: string;
  /** Whether a file or directory exists. */
  exists(file: string): boolean;
  /** The executable `bin` (a path, or a name looked up in `envPath` the way a shell does). */
  findInPath(bin: string, envPath: string | undefined): string | undefined;
  /** A file's text; throws the file system's error (with its `code`) when it cannot be read. */
  readFile(file: string): string;
}

/** The variable a parser is built for: its name, whether its value is kept out of messages, and the host. */
export interface FieldAt {
  name: string;
  hide: boolean;
  host: SettingsHost;
}

/** A variable's parser: built for one variable, run on its raw value. */
export type Field<T = unknown> = (at: FieldAt) => z.ZodType<T, string | undefined>;

type Ctx = z.RefinementCtx;

/** Reports `name` (with its value, cut short, unless `hide`) and what is wrong with it. */
export function fail(ctx: Ctx, name: string, value: string | undefined, problem: string, hide = false): never {
  const shown = value === undefined ? '' : hide ? ' (value hidden)' : ` "${value.length > 80 ? `${value.slice(0, 80)}…` : value}"`;
  ctx.addIssue({ code: 'custom', message: `${name}${shown} ${problem}.` });
  return z.NEVER;
}

const str = () => z.string().optional();

/** The raw value, '' included: for variables the final step interprets. */
export const text = (): Field<string | undefined> => () => str();

/** A parser of the value, with '' read as unset. */
export function custom<T>(parse: (value: string | undefined, ctx: Ctx, at: FieldAt) => T): Field<T> {
  return (at) => str().transform((v, ctx) => parse(v === '' ? undefined : v, ctx, at));
}

/** `fail` for the variable `at`. */
export function failAt(ctx: Ctx, at: FieldAt, value: string | undefined, problem: string): never {
  return fail(ctx, at.name, value, problem, at.hide);
}

/** One of `allowed`, or `fallback` when unset. */
export function oneOf<const T extends string, F extends T | undefined>(allowed: readonly T[], fallback: F, problem: string): Field<T | F> {
  return custom((v, ctx, at) => (v === undefined ? fallback : (allowed as readonly string[]).includes(v) ? (v as T) : failAt(ctx, at, v, problem)));
}

export function bool(fallback: boolean): Field<boolean> {
  return custom((v, ctx, at) => {
    if (v === undefined) return fallback;
    const parsed = parseBool(v);
    return typeof parsed === 'string' ? failAt(ctx, at, v, parsed) : parsed;
  });
}

export function int(fallback: number, min: number, max: number): Field<number> {
  return custom((v, ctx, at) => {
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return failAt(ctx, at, v, `must be a whole number from ${min} to ${max}`);
    return Number(v);
  });
}

export function optionalInt(min: number, max: number): Field<number | undefined> {
  return custom((v, ctx, at) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return failAt(ctx, at, v, `must be a whole number from ${min} to ${max}`);
    return Number(v);
  });
}

export function pattern<F extends string | undefined>(fallback: F, re: RegExp, what: string): Field<string | F> {
  return custom((v, ctx, at) => {
    if (v === undefined) return fallback;
    if (hasControl(v) || !re.test(v)) return failAt(ctx, at, v, what);
    return v;
  });
}

/** A path resolved against the host's directory; `fallback` when unset. */
export function dir<F extends string | undefined>(fallback: F): Field<string | F> {
  return custom((v, _ctx, at) => {
    const given = v ?? fallback;
    return given === undefined ? fallback : path.resolve(at.host.cwd, given);
  });
}

/** HAProxy lines, comma or newline separated, each checked like a raw directive. */
export function lines(): Field<string[]> {
  return custom((v, ctx, at) => {
    if (v === undefined) return [] as string[];
    const out = v.split(/[,\n]/).map((l) => l.trim()).filter((l) => l !== '');
    for (const line of out) {
      const check = checkRawLine(line, 'directive', true);
      if (!check.ok) return failAt(ctx, at, line, check.reason ?? 'is not allowed');
    }
    return out;
  });
}

export function binds(fallback: string): Field<BindSpec[]> {
  return custom((v, ctx, at) => {
    const text = v ?? fallback;
    if (text.trim() === '') return [] as BindSpec[];
    const out: BindSpec[] = [];
    for (const item of text.split(',').map((i) => i.trim()).filter((i) => i !== '')) {
      const m = /^(?:(\*|[0-9.]+|\[[0-9a-fA-F:]+\]):)?(\d{1,5})(:ssl)?(?:\s+(.*))?$/.exec(item);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return failAt(ctx, at, item, 'must be a list of [address:]port[:ssl][ bind options], for example 80,443:ssl');
      const options = (m[4] ?? '').trim();
      if (options !== '') {
        const check = checkRawLine(options, 'header', true);
        if (!check.ok || /[{}]/.test(options)) return failAt(ctx, at, item, `has bind options that are not allowed (${check.reason ?? 'braces'})`);
      }
      out.push({ address: m[1] ?? '*', port: Number(m[2]), ssl: m[3] !== undefined, options });
    }
    return out;
  });
}

/** A log-format string: one line of HAProxy text, quoted when rendered. */
export function logFormat(): Field<string | undefined> {
  return custom((v, ctx, at) => {
    if (v === undefined) return undefined;
    const check = checkRawLine(v, 'header', false);
    if (!check.ok || v.includes("'")) return failAt(ctx, at, v, check.reason ?? 'may not contain a single quote');
    return v;
  });
}
