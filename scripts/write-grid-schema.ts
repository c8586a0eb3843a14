/** Writes schema/grid.schema.json from src/sweep/grid-schema.ts: `npx tsx scripts/write-grid-schema.ts`. */
import { writeFileSync } from 'node:fs';
import { gridSchema } from '../src/sweep/grid-schema.js';

const target = new URL('../schema/grid.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(gridSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
