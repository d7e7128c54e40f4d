// barge system df: disk usage, with docker/cli's arithmetic (sizes through go-units' HumanSize;
// an image's reclaimable bytes are those not shared with images in use).
import type { Cli } from '../cli.js';
import { renderFormat, humanSize, humanSizeWithPrecision, timeAgo, truncateId, formatCommand, formatNames } from '../lib/format.js';
import { goJSON } from '../lib/gofmt.js';
import { imageRows } from './images.js';

const hs = (n: number) => humanSizeWithPrecision(n, 4);
const withPct = (part: number, whole: number) => (whole > 0 ? `${hs(part)} (${Math.floor((part * 100) / whole)}%)` : hs(part));
const sorted = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

export default async function systemDf(cli: Cli, argv: string[]): Promise<number> {
  const { flags } = cli.parse({ usage: '[OPTIONS]', description: 'Show barge disk usage', flags: [
    { name: 'format', type: 'string', description: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template" },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' },
  ] }, argv, { max: 0 });
  const df = await cli.client.get<any>('/system/df');
  const images: any[] = df.Images ?? [];
  const containers: any[] = df.Containers ?? [];
  const volumes: any[] = df.Volumes ?? [];
  const cache: any[] = df.BuildCache ?? [];
  const format = flags.string('format');

  if (flags.bool('verbose') && (format === '' || format === 'table')) {
    cli.out(verbose(images, containers, volumes, cache, df.BuilderSize ?? 0));
    return 0;
  }

  const layersSize: number = df.LayersSize ?? 0;
  const imgUsed = images.filter((i) => (i.Containers ?? 0) !== 0 && i.Size !== -1 && i.SharedSize !== -1).reduce((a, i) => a + i.Size - i.SharedSize, 0);
  const ctrActive = (c: any) => /running|paused|restarting/.test(String(c.State ?? ''));
  const ctrTotal = containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const ctrReclaim = containers.filter((c) => !ctrActive(c)).reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const volSized = volumes.filter((v) => (v.UsageData?.Size ?? -1) !== -1);
  const volTotal = volSized.reduce((a, v) => a + v.UsageData.Size, 0);
  const volReclaim = volSized.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((a, v) => a + v.UsageData.Size, 0);
  const cacheSize = cache.filter((b) => !b.Shared).reduce((a, b) => a + (b.Size ?? 0), 0);
  const cacheInUse = cache.filter((b) => b.InUse && !b.Shared).reduce((a, b) => a + (b.Size ?? 0), 0);
  const rows = [
    { Type: 'Images', TotalCount: String(images.length), Active: String(images.filter((i) => (i.Containers ?? 0) > 0).length), Size: hs(layersSize), Reclaimable: withPct(layersSize - imgUsed, layersSize) },
    { Type: 'Containers', TotalCount: String(containers.length), Active: String(containers.filter(ctrActive).length), Size: hs(ctrTotal), Reclaimable: withPct(ctrReclaim, ctrTotal) },
    { Type: 'Local Volumes', TotalCount: String(volumes.length), Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length), Size: hs(volTotal), Reclaimable: withPct(volReclaim, volTotal) },
    { Type: 'Build Cache', TotalCount: String(cache.length), Active: String(cache.filter((b) => b.InUse).length), Size: hs(cacheSize), Reclaimable: hs((df.BuilderSize ?? cacheSize) - cacheInUse) },
  ];
  if (format === 'json') { for (const r of rows) cli.out(goJSON(sorted(r), { escapeHTML: true }) + '\n'); return 0; }
  cli.out(renderFormat(rows, { format, defaultTable: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' } }));
  return 0;
}

/** docker system df -v: a table per kind of object. */
function verbose(images: any[], containers: any[], volumes: any[], cache: any[], builderSize: number): string {
  const imgRows = images.map((i) => {
    const first = imageRows(i, false)[0]!;
    const dangling = first.repo === '<none>' && first.tag === '<none>';
    return {
      Repository: dangling ? '<none>' : first.repo, Tag: dangling ? '<none>' : first.tag, ID: truncateId(i.Id), CreatedSince: timeAgo(i.Created * 1000),
      Size: humanSize(i.Size), SharedSize: i.SharedSize === -1 ? 'N/A' : hs(i.SharedSize), UniqueSize: i.SharedSize === -1 ? 'N/A' : hs(i.Size - i.SharedSize),
      Containers: i.Containers === -1 ? 'N/A' : String(i.Containers ?? 0),
    };
  });
  const ctrRows = containers.map((c) => ({
    ID: truncateId(c.Id), Image: String(c.Image ?? '').startsWith('sha256:') ? truncateId(c.Image) : c.Image, Command: formatCommand(c.Command ?? ''),
    LocalVolumes: String((c.Mounts ?? []).filter((m: any) => m.Type === 'volume').length), Size: humanSize(c.SizeRw ?? 0),
    RunningFor: timeAgo(c.Created * 1000), Status: c.Status ?? '', Names: formatNames(c.Names ?? []),
  }));
  const volRows = volumes.map((v) => ({ Name: v.Name, Links: String(v.UsageData?.RefCount ?? 0), Size: (v.UsageData?.Size ?? -1) === -1 ? 'N/A' : hs(v.UsageData.Size) }));
  const cacheRows = cache.map((b) => ({
    ID: b.ID, CacheType: b.Type, Size: hs(b.Size ?? 0), CreatedSince: timeAgo(Date.parse(b.CreatedAt)), LastUsedSince: b.LastUsedAt ? timeAgo(Date.parse(b.LastUsedAt)) : '',
    UsageCount: String(b.UsageCount ?? 0), Shared: String(!!b.Shared),
  }));
  return 'Images space usage:\n\n' +
    renderFormat(imgRows, { defaultTable: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}', headers: { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' } }) +
    '\nContainers space usage:\n\n' +
    renderFormat(ctrRows, { defaultTable: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}', headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', RunningFor: 'CREATED', Status: 'STATUS', Names: 'NAMES' } }) +
    '\nLocal Volumes space usage:\n\n' +
    renderFormat(volRows, { defaultTable: 'table {{.Name}}\t{{.Links}}\t{{.Size}}', headers: { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' } }) +
    `\nBuild cache usage: ${hs(builderSize)}\n\n` +
    renderFormat(cacheRows, { defaultTable: 'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}', headers: { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' } });
}
