// The top frames of V8 CPU profiles (.cpuprofile files from --cpu-prof): self time per function,
// largest first, as a share of each profile's samples. `node bench/top-frames.mjs FILE... [N]`.

import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const count = /^\d+$/.test(args.at(-1) ?? '') ? Number(args.pop()) : 25;
if (args.length === 0) {
  console.error('usage: node bench/top-frames.mjs FILE.cpuprofile... [N]');
  process.exit(2);
}
for (const file of args) printTopFrames(file);

function printTopFrames(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const hits = new Map(profile.nodes.map((node) => [node.id, 0]));
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const self = new Map();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules\/|dist\/)/, '$1')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + (hits.get(node.id) ?? 0));
  }
  const total = profile.samples.length;
  const idle = self.get('(idle)') ?? 0;
  console.log(`${file}: ${total} samples, ${((100 * (total - idle)) / total).toFixed(1)} % busy`);
  for (const [key, n] of [...self].filter(([key]) => key !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
}
