// barge info: system-wide information.
import type { Cli } from '../cli.js';
import { renderFormat, bytesSize } from '../lib/format.js';

const FLAGS = [{ name: 'format', short: 'f', type: 'string' as const, description: 'Format output using a custom template' }];

export default async function info(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Display system-wide information', flags: FLAGS }, argv, { max: 0 });
  const i = await cli.client.get<Record<string, any>>('/info');
  const format = flags.string('format');
  if (format) { cli.out(renderFormat([i], { format, defaultTable: '', headers: {} })); return 0; }
  cli.out(`Client:\n Version:    0.1.0\n Context:    default\n Debug Mode: false\n\nServer:\n` +
    ` Containers: ${i.Containers}\n  Running: ${i.ContainersRunning}\n  Paused: ${i.ContainersPaused}\n  Stopped: ${i.ContainersStopped}\n` +
    ` Images: ${i.Images}\n Server Version: ${i.ServerVersion}\n Storage Driver: ${i.Driver}\n Logging Driver: ${i.LoggingDriver}\n` +
    ` Cgroup Driver: ${i.CgroupDriver}\n Cgroup Version: ${i.CgroupVersion}\n Plugins:\n  Volume: ${(i.Plugins?.Volume ?? []).join(' ')}\n  Network: ${(i.Plugins?.Network ?? []).join(' ')}\n  Log: ${(i.Plugins?.Log ?? []).join(' ')}\n` +
    ` Runtimes: ${Object.keys(i.Runtimes ?? {}).join(' ')}\n Default Runtime: ${i.DefaultRuntime}\n Init Binary: ${i.InitBinary}\n` +
    ` Security Options:\n${(i.SecurityOptions ?? []).map((s: string) => `  ${s.replace(/^name=/, '').split(',')[0]}\n`).join('')}` +
    ` Kernel Version: ${i.KernelVersion}\n Operating System: ${i.OperatingSystem}\n OSType: ${i.OSType}\n Architecture: ${i.Architecture}\n` +
    ` CPUs: ${i.NCPU}\n Total Memory: ${bytesSize(i.MemTotal)}\n Name: ${i.Name}\n ID: ${i.ID}\n Barge Root Dir: ${i.DockerRootDir}\n` +
    ` Debug Mode: false\n Experimental: false\n Live Restore Enabled: ${i.LiveRestoreEnabled}\n\n`);
  for (const w of i.Warnings ?? []) cli.err(`WARNING: ${w}\n`);
  return 0;
}
