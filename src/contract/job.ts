/**
 * An execution job: a prepared execution (validated once, limits resolved) as plain JSON, so it can wait
 * in any queue and run in any worker process. Nothing in it is a Buffer, a function or a signal.
 */
import { Type, type Static } from '@sinclair/typebox';
import { LimitTableSchema } from '../limits/limits.js';
import { JudgeSpecSchema } from '../judge/schema.js';
import { SandboxProfileSchema } from './profile.js';

export const ExecutionJobSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    tenantId: Type.String({ minLength: 1 }),
    /** Resolved runtime: a name and an exact version that passed its self-test. */
    runtime: Type.Object({ name: Type.String(), version: Type.String() }, { additionalProperties: false }),
    /** Request files; the entry file may have no name (the runtime names it). Content is base64. */
    files: Type.Array(Type.Object({ name: Type.Optional(Type.String()), content: Type.String() }, { additionalProperties: false })),
    /** Initial stdin of the run stage, base64. */
    stdin: Type.String(),
    /** Keep the run stage's stdin open after `stdin` until an `stdin_end` control message. */
    interactive: Type.Boolean(),
    args: Type.Array(Type.String()),
    limits: LimitTableSchema,
    /** Compile cache scope: "tenant:<id>" or "global". */
    cacheScope: Type.String(),
    profile: SandboxProfileSchema,
    /** A judge job: the run stage once per case, each judged (src/judge). */
    judge: Type.Optional(JudgeSpecSchema),
  },
  { additionalProperties: false },
);
export type ExecutionJob = Static<typeof ExecutionJobSchema>;
