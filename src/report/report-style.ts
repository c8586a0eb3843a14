/** The report page's style sheet, inlined into its head. */
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1d2327; --muted: #5f6b73; --line: #d8dee3; --band: #f4f6f8; --accent: #2f6db5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header, section { padding: 12px 24px; }
header { border-bottom: 1px solid var(--line); background: var(--band); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 8px 0; }
p.note, .count { color: var(--muted); margin: 4px 0 8px; }
#refresh { color: #a15c00; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
td.num { text-align: right; }
th { background: #fff; user-select: none; }
.scroll th { position: sticky; top: 0; }
#leaderboard th:not(.nosort) { cursor: pointer; }
#leaderboard th[aria-sort="ascending"]::after { content: " ▲"; }
#leaderboard th[aria-sort="descending"]::after { content: " ▼"; }
#leaderboard tr.pareto td:nth-child(3) { font-weight: 600; }
#leaderboard tbody tr:hover, #failures-table tbody tr:hover { background: var(--band); }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); }
#leaderboard-filter { width: 360px; padding: 4px 6px; }
td.reason { white-space: normal; max-width: 640px; font-family: ui-monospace, monospace; font-size: 12px; }
tr.state-oom td:nth-child(2) { color: #a11; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-weight: 600; margin-bottom: 4px; max-width: 560px; }
`;
