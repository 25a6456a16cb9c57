/**
 * TypeBox schemas of the v1 API's parameters and errors; the execute body's schema is the contract's
 * (src/contract/request.ts). They validate requests (unknown fields are refused, never stripped) and feed
 * the OpenAPI document at /openapi.json.
 */
import { Type } from '@sinclair/typebox';

export { ExecuteBodySchema } from '../contract/request.js';

export const ExecutionIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const ExecutionQuery = Type.Object(
  { wait: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'long-poll: wait up to this many ms for the result' })) },
  { additionalProperties: false },
);

export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
});
