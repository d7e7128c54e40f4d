// barge system df: disk usage.
import type { Cli } from '../cli.js';
import { renderFormat, humanSize } from '../lib/format.js';

export default async function systemDf(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Show barge disk usage', flags: [
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' },
  ] }, argv, { max: 0 });
  const df = await cli.client.get<any>('/system/df');
  const images: any[] = df.Images ?? [];
  const containers: any[] = df.Containers ?? [];
  const volumes: any[] = df.Volumes ?? [];
  const cache: any[] = df.BuildCache ?? [];
  const imgSize = df.LayersSize ?? images.reduce((a, i) => a + (i.Size ?? 0), 0);
  const imgActive = images.filter((i) => (i.Containers ?? 0) > 0);
  const imgReclaim = images.filter((i) => !(i.Containers > 0)).reduce((a, i) => a + (i.Size ?? 0) - Math.max(0, i.SharedSize ?? 0), 0);
  const ctrSize = containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const ctrActive = containers.filter((c) => c.State === 'running');
  const pct = (part: number, whole: number) => (whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : '');
  const rows = [
    { Type: 'Images', TotalCount: String(images.length), Active: String(imgActive.length), Size: humanSize(imgSize), Reclaimable: humanSize(imgReclaim) + pct(imgReclaim, imgSize) },
    { Type: 'Containers', TotalCount: String(containers.length), Active: String(ctrActive.length), Size: humanSize(ctrSize), Reclaimable: humanSize(containers.filter((c) => c.State !== 'running').reduce((a, c) => a + (c.SizeRw ?? 0), 0)) },
    { Type: 'Local Volumes', TotalCount: String(volumes.length), Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length), Size: humanSize(volumes.reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0)), Reclaimable: '0B' },
    { Type: 'Build Cache', TotalCount: String(cache.length), Active: '0', Size: humanSize(cache.reduce((a, b) => a + (b.Size ?? 0), 0)), Reclaimable: humanSize(cache.reduce((a, b) => a + (b.Size ?? 0), 0)) },
  ];
  cli.out(renderFormat(rows, { format: flags.string('format'), defaultTable: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' } }));
  return 0;
}
