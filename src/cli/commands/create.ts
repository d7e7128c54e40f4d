// barge create: create a container without starting it.
import * as fs from 'node:fs';
import type { Cli } from '../cli.js';
import { ApiError } from '../client.js';
import { CONTAINER_FLAGS, containerBody, type CreateBody } from '../lib/containeropts.js';

/** POST /containers/create (shared with run): cidfile, image pull when missing, warnings. */
export async function createContainer(cli: Cli, spec: CreateBody): Promise<string> {
  if (spec.cidfile && fs.existsSync(spec.cidfile)) {
    throw new Error(`Container ID file found, make sure the other container isn't running or delete ${spec.cidfile}`);
  }
  const image = String(spec.body.Image);
  const create = () => cli.client.post<{ Id: string; Warnings: string[] | null }>('/containers/create', spec.body, { name: spec.name, platform: spec.platform });
  let r: { Id: string; Warnings: string[] | null };
  if (spec.pull === 'always') await pullImage(cli, image, spec);
  try {
    r = await create();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404 || !/No such image/i.test(e.message) || spec.pull === 'never') throw e;
    cli.err(`Unable to find image '${withTag(image)}' locally\n`);
    await pullImage(cli, image, spec);
    r = await create();
  }
  for (const w of r.Warnings ?? []) cli.err(`WARNING: ${w}\n`);
  if (spec.cidfile) fs.writeFileSync(spec.cidfile, r.Id);
  return r.Id;
}

function withTag(ref: string): string {
  const last = ref.split('/').pop() ?? ref;
  return last.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
}

/** docker run/create's pull: progress on stderr (quiet with -q). Loaded only when a pull is needed:
 * every `barge run` pays for the modules it imports at start-up. */
async function pullImage(cli: Cli, image: string, spec: CreateBody): Promise<void> {
  const [{ pullImage: pullImageVia }, { parseNormalizedNamed, withDefaultTag }] = await Promise.all([import('../lib/imagepull.js'), import('../../image/reference.js')]);
  const ref = withDefaultTag(parseNormalizedNamed(image));
  await pullImageVia(cli, ref, { platform: spec.platform, tty: !!process.stderr.isTTY, ...(spec.quiet ? {} : { write: (s: string) => cli.err(s) }) });
}

export default async function create(cli: Cli, argv: string[]): Promise<number> {
  const { flags, args } = cli.parse({ usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', description: 'Create a new container', aliases: ['barge container create', 'barge create'], flags: CONTAINER_FLAGS, interspersed: false }, argv, { min: 1 });
  let spec;
  try { spec = containerBody(flags, args); } catch (e) {
    cli.err(`barge: ${(e as Error).message}\n\nRun 'barge create --help' for more information\n`);
    return 125;
  }
  spec.body.StdinOnce = false;
  try {
    const id = await createContainer(cli, spec);
    cli.out(id + '\n');
    return 0;
  } catch (e) {
    cli.err(`barge: ${e instanceof ApiError ? 'Error response from daemon: ' : ''}${(e as Error).message}\n`);
    return 125;
  }
}
