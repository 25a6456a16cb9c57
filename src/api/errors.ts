/**
 * Every error leaves as JSON `{"error": {"code", "message", "details"?}}` with its status, never a stack
 * trace. Fastify's own errors (parsing, body size, content type, schema validation) are translated into
 * polyrun's codes here.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PolyrunError, errors, toPolyrunError } from '../contract/errors.js';

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** "/files/0/content" -> "files[0].content" */
export function fieldName(context: string | undefined, instancePath: string, child?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (child !== undefined) parts.push(child);
  const path = parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  return path || (context ?? 'body');
}

export function describeSchemaError(e: AjvError, context?: string): { field: string; message: string } {
  switch (e.keyword) {
    case 'required': {
      const field = fieldName(context, e.instancePath, String(e.params.missingProperty));
      return { field, message: `${field} is required` };
    }
    case 'additionalProperties': {
      const field = fieldName(context, e.instancePath, String(e.params.additionalProperty));
      return { field, message: `unknown field ${field}` };
    }
    default: {
      const field = fieldName(context, e.instancePath);
      return { field, message: `${field} ${e.message ?? 'is invalid'}` };
    }
  }
}

/** Anything thrown in a request as a PolyrunError: Fastify's own errors get polyrun's codes. */
export function httpError(err: unknown): PolyrunError {
  if (err instanceof PolyrunError) return err;
  const e = err as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(e?.validation)) {
    const found = e.validation.map((v) => describeSchemaError(v, e.validationContext));
    return errors.validationFailed(found.map((x) => x.message).join('; '), { errors: found });
  }
  switch (e?.code) {
    case 'FST_ERR_BAD_URL':
      return errors.badRequest('the URL is not validly encoded');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return errors.notFound('no such resource (a path parameter is longer than any id)');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errors.invalidJson();
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errors.invalidJson(true);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.payloadTooLarge();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.unsupportedMediaType();
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return errors.badRequest('Content-Length does not match the body');
  }
  // A JSON syntax error from the parser arrives as a SyntaxError with status 400.
  if (e?.statusCode === 400 && err instanceof SyntaxError) return errors.invalidJson();
  if (e?.statusCode === 404) return errors.notFound('not found');
  if (e?.statusCode === 413) return errors.payloadTooLarge();
  if (e?.statusCode === 415) return errors.unsupportedMediaType();
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return errors.badRequest(e.message || 'bad request');
  return toPolyrunError(err);
}

/** Status, headers and logging shared by the v1 and the Piston error formats; returns the error to render. */
export function prepareErrorReply(err: unknown, request: FastifyRequest, reply: FastifyReply): PolyrunError {
  // A request to no route is a 404 whatever its body: the body parser of the not-found handler must not
  // turn it into a 400 (a DELETE with a JSON content type and no body, say).
  const e = err instanceof PolyrunError ? err : request.is404 ? noRoute(request) : httpError(err);
  if (e.code === 'INTERNAL') request.log.error({ err }, 'request failed');
  else request.log.info({ code: e.code }, e.message);
  const retry = (e.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if (typeof retry === 'number' && !reply.hasHeader('retry-after')) reply.header('retry-after', String(retry));
  reply.code(e.httpStatus);
  return e;
}

export function noRoute(request: FastifyRequest): PolyrunError {
  return errors.notFound(`no route ${request.method} ${request.url.split('?')[0]}`);
}

export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = prepareErrorReply(err, request, reply);
  return reply.type('application/json; charset=utf-8').send(e.toJSON());
}
