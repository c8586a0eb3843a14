/**
 * The report as one self-contained HTML file: Vega, Vega-Lite and vega-embed (their minified builds
 * from node_modules), the page script and style, and the data, all inline; it opens from disk and
 * makes no network request.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPORT_CSS } from './report-style.js';
import type { ReportData } from './report-types.js';

/** The plotting libraries, in load order: each package and its browser build beside its entry point. */
const LIBRARIES = [
  { name: 'vega', file: 'vega.min.js' },
  { name: 'vega-lite', file: 'vega-lite.min.js' },
  { name: 'vega-embed', file: 'vega-embed.min.js' },
] as const;

/** The compiled page script (src/report/client, built by `npm run build` next to this module). */
const CLIENT = fileURLToPath(new URL('./client/report-client.js', import.meta.url));

let scripts: string[] | undefined;

/** The inline scripts: libraries then the page script (read once per process). */
function inlineScripts(): string[] {
  if (scripts !== undefined) return scripts;
  const require = createRequire(import.meta.url);
  const libraries = LIBRARIES.map((lib) => readFileSync(join(dirname(require.resolve(lib.name)), lib.file), 'utf8'));
  if (!existsSync(CLIENT)) throw new Error(`${CLIENT}: the report page script is missing; build gridrec first (npm run build)`);
  scripts = [...libraries, readFileSync(CLIENT, 'utf8')].map(escapeScript);
  return scripts;
}

/** Renders the report page of `data`. */
export function renderReport(data: ReportData): string {
  const [vega, vegaLite, vegaEmbed, client] = inlineScripts() as [string, string, string, string];
  const json = JSON.stringify(data).replaceAll('<', '\\u003c');
  const refresh = data.refreshSeconds === null ? '' : `<meta http-equiv="refresh" content="${data.refreshSeconds}">\n`;
  const { metric, direction } = data.objective;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${refresh}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(data.title)}</h1>
<p class="note">Generated <span id="generated"></span>. Objective: ${escapeHtml(metric)} (${direction}). <span id="refresh"></span></p>
<table id="sweeps"></table>
<nav><a href="#section-leaderboard">leaderboard</a><a href="#section-tradeoff">quality and cost</a><a href="#section-effects">grid axes</a><a href="#section-curves">learning curves</a><a href="#section-memory">memory</a><a href="#failures">not completed</a></nav>
</header>
<section id="section-leaderboard">
<h2>Leaderboard</h2>
<p class="note">Completed trials by ${escapeHtml(metric)} at their best epoch (validation). Click a heading to sort; type to filter (every word must match, e.g. <code>cce- batch_size=256</code>); tick a row to add its learning curves. Bold ids are on a Pareto front.</p>
<input id="leaderboard-filter" type="search" placeholder="filter: loss, trial id, key=value…" aria-label="filter the leaderboard">
<span class="count" id="leaderboard-count"></span>
<div class="scroll"><table id="leaderboard"></table></div>
</section>
<section>
<h2>Quality against memory and time</h2>
<p class="note">One point per completed trial, one colour per loss (click the legend to pick losses). The Pareto front joins the trials that nothing beats on both quality and cost.</p>
<div class="charts" id="section-tradeoff"></div>
</section>
<section>
<h2>Effect of each grid axis</h2>
<p class="note">One point per config (every value of the other keys), one colour per loss${data.seeded ? ': the mean over its seeds with a bar of ± one standard deviation' : ''}. On a number line, a line joins each loss's best config at each value.</p>
<div class="charts" id="section-effects"></div>
</section>
<section>
<h2>Learning curves</h2>
<p class="note">The best trials and those running; tick rows of the leaderboard to add others.</p>
<div class="charts" id="section-curves"></div>
</section>
<section>
<h2>Planned and measured peak memory</h2>
<p class="note">The peak the trainer planned before training against the peak its allocator measured.</p>
<div class="charts" id="section-memory"></div>
</section>
<section id="failures">
<h2>Trials that did not complete</h2>
<p class="note" id="failures-count"></p>
</section>
<script type="application/json" id="report-data">${json}</script>
<script>${vega}</script>
<script>${vegaLite}</script>
<script>${vegaEmbed}</script>
<script type="module">${client}</script>
</body>
</html>
`;
}

/** Keeps inline script text from closing its element early. */
function escapeScript(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}
