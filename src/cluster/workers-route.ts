/**
 * GET /v1/workers: the workers that run this service's jobs, with their load. In one process (no Redis)
 * that is the process itself; in a cluster, every worker whose heartbeat is recent (the registry in Redis).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ERROR_RESPONSES } from '../api/schemas.js';

export const WorkerViewSchema = Type.Object(
  {
    id: Type.String(),
    host: Type.String({ description: 'the node name (nodeName, default the host name)' }),
    pid: Type.Integer(),
    runtimes: Type.Array(Type.String(), { description: 'runtime names it takes jobs for; ["*"] for any' }),
    slots: Type.Integer({ description: 'jobs it runs at once at most' }),
    busy: Type.Integer({ description: 'jobs it runs now' }),
    completed: Type.Integer({ description: 'jobs it finished since it started' }),
    failed: Type.Integer({ description: 'jobs that failed (not a program error: the job could not run)' }),
    startedAt: Type.String({ format: 'date-time' }),
    lastSeen: Type.String({ format: 'date-time', description: 'its last heartbeat' }),
  },
  { description: 'one worker process' },
);
export type WorkerView = Static<typeof WorkerViewSchema>;

/** A worker as the registry holds it (epoch ms), before it is shown. */
export interface WorkerRecord extends Omit<WorkerView, 'startedAt' | 'lastSeen'> {
  startedAt: number;
  lastSeen: number;
}

export const toView = (w: WorkerRecord): WorkerView => ({
  ...w,
  startedAt: new Date(w.startedAt).toISOString(),
  lastSeen: new Date(w.lastSeen).toISOString(),
});

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

export const workersRoute: FastifyPluginAsyncTypebox<{ list: () => Promise<WorkerRecord[]> }> = async (app, { list }) => {
  app.get(
    '/workers',
    {
      schema: {
        tags: ['v1'],
        summary: 'The workers running jobs: host, runtimes, slots, busy, completed, failed, last seen',
        security,
        response: { 200: Type.Array(WorkerViewSchema), ...ERROR_RESPONSES },
      },
    },
    async () => (await list()).map(toView),
  );
};
