// SPDX-License-Identifier: MIT
// Validates what iotrace writes against the JSON Schemas in schemas/: every
// line of a recording, and the --json documents. One Ajv instance, each schema
// compiled once; a failure names the file, the line and ajv's reasons.
import * as fs from 'node:fs';
import * as path from 'node:path';

import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';

import { ROOT } from './root';

export const SCHEMAS_DIR = path.join(ROOT, 'schemas');

/** The schema files, by the name before -<major>.schema.json. */
export const SCHEMA_IDS = {
  recording: 'urn:iotrace:recording:1',
  summary: 'urn:iotrace:summary:1',
  classification: 'urn:iotrace:classification:1',
  inspection: 'urn:iotrace:inspection:1',
  inspect: 'urn:iotrace:inspect:1',
  classify: 'urn:iotrace:classify:1',
  lab: 'urn:iotrace:lab:1',
} as const;
export type SchemaName = keyof typeof SCHEMA_IDS;

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

/** Every schemas/*.schema.json, parsed, by file name. */
export function loadSchemas(): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const f of fs.readdirSync(SCHEMAS_DIR).filter((n) => n.endsWith('.schema.json')).sort()) {
    out.set(f, JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, f), 'utf8')) as Record<string, unknown>);
  }
  return out;
}

function instance(): Ajv2020 {
  if (!ajv) {
    // strict: an unknown keyword, a type-less constraint or an ill-formed tuple
    // in our schemas is an error here, not a silently ignored rule.
    ajv = new Ajv2020({ allErrors: true, strict: true });
    for (const schema of loadSchemas().values()) ajv.addSchema(schema);
  }
  return ajv;
}

/** The validator for a schema id or id#/pointer, compiled once. */
export function validator(ref: string): ValidateFunction {
  let v = compiled.get(ref);
  if (!v) {
    v = instance().getSchema(ref);
    if (!v) throw new Error(`no schema ${ref} in ${SCHEMAS_DIR}`);
    compiled.set(ref, v);
  }
  return v;
}

/** Compiles every schema now (about 0.2 s), so that no later, timed step of a test pays for it. */
export function compileAll(): void {
  for (const id of Object.values(SCHEMA_IDS)) validator(id);
}

/** ajv's errors as one readable line each: "/snapshot/syscalls/0/calls must be integer". */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
        : e.keyword === 'enum' ? ` (${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues)})` : '';
      return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
    })
    .filter((s, i, all) => all.indexOf(s) === i)
    .join('; ');
}

/** Why value does not fit the named schema, or undefined when it does. */
export function schemaErrors(name: SchemaName, value: unknown): string | undefined {
  const v = validator(SCHEMA_IDS[name]);
  return v(value) ? undefined : describeErrors(v.errors);
}

/** Why one recording line does not fit the recording schema, or undefined. */
export function recordingLineErrors(value: unknown): string | undefined {
  const v = validator(SCHEMA_IDS.recording);
  // The line's type picks its branch (if/then): the branch's own errors say what is wrong.
  return v(value) ? undefined : describeErrors(v.errors?.filter((e) => e.keyword !== 'if'));
}

/** Counts of what was validated in this test process (see tally()). */
export const validated = { recordings: 0, lines: 0, documents: 0, files: [] as string[] };

/** Appends this process's counts to $IOTRACE_SCHEMA_TALLY, when set, at exit: one JSON line per test file. */
function tally(): void {
  const file = process.env.IOTRACE_SCHEMA_TALLY;
  if (!file || tally.registered) return;
  tally.registered = true;
  process.on('exit', () => {
    if (validated.recordings + validated.documents === 0) return;
    fs.appendFileSync(file, JSON.stringify({ test: path.basename(process.argv[1] ?? '?'), ...validated }) + '\n');
  });
}
tally.registered = false;

/**
 * Validates every line of a recording against schemas/recording-1.schema.json
 * and its order (a header first, then snapshots and events, a summary only
 * last); throws naming the file, the line and what is wrong. A last line
 * without its newline that does not parse is a write cut short (iotrace
 * killed), as readers take it, and is skipped. Returns the parsed lines.
 */
export function validateRecording(file: string): unknown[] {
  tally();
  const text = fs.readFileSync(file, 'utf8');
  const raw = text.split('\n');
  if (raw[raw.length - 1] === '') raw.pop();
  const lines: unknown[] = [];
  const fail = (no: number, why: string): never => {
    throw new Error(`${file}: line ${no} does not fit ${SCHEMA_IDS.recording}: ${why}`);
  };
  raw.forEach((t, i) => {
    const no = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(t);
    } catch (err) {
      if (no === raw.length && no > 1 && !text.endsWith('\n')) return;
      fail(no, `not JSON (${String(err)})`);
    }
    const why = recordingLineErrors(value);
    if (why) fail(no, why);
    const type = (value as { type: string }).type;
    if ((no === 1) !== (type === 'header')) fail(no, no === 1 ? 'the first line must be the header' : 'a second header');
    if (lines.some((l) => (l as { type: string }).type === 'summary')) fail(no, `a ${type} line after the summary`);
    lines.push(value);
  });
  if (lines.length === 0) throw new Error(`${file}: an empty recording`);
  validated.recordings++;
  validated.lines += lines.length;
  validated.files.push(path.basename(file));
  return lines;
}

/** Validates a --json document (already parsed) against the named schema; throws with ajv's reasons. */
export function validateJson<T>(name: SchemaName, value: T, what = `a --json document`, def?: string): T {
  tally();
  const ref = def ? `${SCHEMA_IDS[name]}#/$defs/${def}` : SCHEMA_IDS[name];
  const v = validator(ref);
  if (!v(value)) throw new Error(`${what} does not fit ${ref}: ${describeErrors(v.errors)}`);
  validated.documents++;
  return value;
}
