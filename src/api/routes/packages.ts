/**
 * Piston's package API on polyrun's runtimes (GET, POST, DELETE /api/v2/packages). A package is a runtime
 * manifest; installing it installs its Debian (and npm) packages on this host, self-tests it and serves it
 * without a restart (the executor's reloadRuntimes); deleting it removes the Debian packages no other
 * installed runtime needs. Listing is for any key; installing and removing only for an admin key (`polyrun
 * keys create --tenant T --admin`), anyone else gets 403. One change at a time: apt holds a lock anyway.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { errors } from '../../contract/errors.js';
import { isInstalled, packagesOf } from '../../runtimes/install-plan.js';
import { candidateVersions, installPackages, installedPackages, removePackages, runCollecting, type InstallerIO } from '../../runtimes/installer.js';
import type { RuntimeManifest } from '../../runtimes/manifest.js';
import { languageOf, loadManifests, manifestsFor, probeVersion } from '../../runtimes/registry.js';
import { chooseRuntime } from '../../runtimes/versions.js';
import { prepareErrorReply } from '../errors.js';
import { tenantOf } from '../execution-route.js';
import { PistonErrorSchema } from '../piston.js';
import type { AppServices } from '../services.js';

const PackageSchema = Type.Object({
  language: Type.String(),
  language_version: Type.String({ description: 'the version here when installed, else the version Debian would install' }),
  installed: Type.Boolean(),
  runtime: Type.Optional(Type.String({ description: 'the implementation, when it is not the language\'s reference one (e.g. pypy)' })),
});
const PackageBodySchema = Type.Object({
  language: Type.String({ minLength: 1, description: 'a language, runtime name or alias' }),
  version: Type.Optional(Type.String({ description: 'a version selector as for execute ("*", "3.x", "^7"); default any' })),
});
type PackageBody = Static<typeof PackageBodySchema>;
const PackageDoneSchema = Type.Object({ language: Type.String(), version: Type.String() });

interface PackageView {
  manifest: RuntimeManifest;
  installed: boolean;
  version: string;
}

/** Output of apt-get kept for an error message: the end is what tells why. */
const OUTPUT_TAIL = 2000;

export const packageRoutes: FastifyPluginAsync<{ services: AppServices }> = async (app, { services }) => {
  app.setErrorHandler((err, request, reply) => {
    const e = prepareErrorReply(err, request, reply);
    return reply.send({ message: e.message });
  });
  const manifests = await loadManifests();
  let busy: Promise<unknown> = Promise.resolve();
  /** One install or removal at a time, in arrival order. */
  const serialized = <T>(task: () => Promise<T>): Promise<T> => {
    const next = busy.then(task, task);
    busy = next.catch(() => undefined);
    return next;
  };

  /** What each of `of` is here (installed, its version); only those are asked of dpkg, apt and the binaries. */
  async function views(of: RuntimeManifest[] = manifests): Promise<PackageView[]> {
    const installed = await installedPackages(packagesOf(of).apt);
    const candidates = await candidateVersions(of.map((m) => m.packages.apt?.[0]).filter((p): p is string => p !== undefined));
    return Promise.all(
      of.map(async (m) => {
        const present = isInstalled(m, installed);
        const detected = services.executor.runtimes().find((r) => r.name === m.name)?.version;
        const version = present ? (detected ?? (await probeVersion(m))) : candidates.get(m.packages.apt?.[0] ?? '');
        return { manifest: m, installed: present, version: version ?? 'unknown' };
      }),
    );
  }

  async function choose(body: PackageBody, wantInstalled: boolean): Promise<PackageView> {
    const all = await views(manifestsFor(manifests, body.language));
    const matching = all.filter((v) => v.installed === wantInstalled);
    const chosen = chooseRuntime(
      matching.map((v) => ({ name: v.manifest.name, language: languageOf(v.manifest), version: v.version, view: v })),
      body.version,
    );
    if (!chosen) {
      const what = `${body.language}${body.version ? `-${body.version}` : ''}`;
      if (all.length === 0) throw errors.notFound(`no package ${what}`);
      throw errors.badRequest(`${what} is ${wantInstalled ? 'not installed' : 'already installed'}`);
    }
    return chosen.view;
  }

  function collecting(): { io: InstallerIO; tail: () => string } {
    let output = '';
    const keep = (text: string) => (output = (output + text).slice(-OUTPUT_TAIL));
    return { io: { say: (line) => keep(`polyrun: ${line}\n`), run: (command, args) => runCollecting(command, args, keep) }, tail: () => output };
  }

  const errorsSchema = { '4xx': PistonErrorSchema, '5xx': PistonErrorSchema };

  app.get(
    '/packages',
    { schema: { tags: ['piston'], summary: 'Piston-compatible package list: every runtime polyrun knows, installed or not', response: { 200: Type.Array(PackageSchema), ...errorsSchema } } },
    async (request) => {
      tenantOf(request);
      return (await views()).map((v) => ({
        language: languageOf(v.manifest),
        language_version: v.version,
        installed: v.installed,
        ...(v.manifest.name !== languageOf(v.manifest) ? { runtime: v.manifest.name } : {}),
      }));
    },
  );

  app.post<{ Body: PackageBody }>(
    '/packages',
    {
      schema: {
        tags: ['piston'],
        summary: 'Install a runtime from Debian packages, self-test it and serve it (admin key)',
        body: PackageBodySchema,
        response: { 200: PackageDoneSchema, ...errorsSchema },
      },
    },
    async (request) => {
      if (!tenantOf(request).admin) throw errors.adminRequired();
      return serialized(async () => {
        const view = await choose(request.body, false);
        const { io, tail } = collecting();
        request.log.info({ runtime: view.manifest.name }, 'installing a runtime');
        await installPackages([view.manifest], io).catch((err: Error) => {
          throw errors.internal(`${err.message}: ${tail()}`);
        });
        await services.executor.reloadRuntimes?.();
        const served = services.executor.runtimes().find((r) => r.name === view.manifest.name);
        if (!served) throw errors.internal(`${view.manifest.name} was installed but did not pass its self-test; the service log says why`);
        return { language: languageOf(view.manifest), version: served.version };
      });
    },
  );

  app.delete<{ Body: PackageBody }>(
    '/packages',
    {
      schema: {
        tags: ['piston'],
        summary: 'Remove a runtime\'s Debian packages that no other installed runtime needs (admin key)',
        body: PackageBodySchema,
        response: { 200: PackageDoneSchema, ...errorsSchema },
      },
    },
    async (request) => {
      if (!tenantOf(request).admin) throw errors.adminRequired();
      return serialized(async () => {
        const view = await choose(request.body, true);
        if (view.manifest.core) throw errors.badRequest(`${view.manifest.name} is a core runtime and stays`);
        const { io, tail } = collecting();
        request.log.info({ runtime: view.manifest.name }, 'removing a runtime');
        await removePackages(manifests, [view.manifest], io).catch((err: Error) => {
          throw errors.internal(`${err.message}: ${tail()}`);
        });
        await services.executor.reloadRuntimes?.();
        return { language: languageOf(view.manifest), version: view.version };
      });
    },
  );
};
