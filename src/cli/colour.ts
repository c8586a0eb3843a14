/**
 * Colours on a terminal: trial states coloured by what they mean, only where the output is a terminal
 * and the user has not asked for none (https://no-color.org: a non-empty `NO_COLOR` turns them off).
 */
import type { AttemptEnd } from '../store/trial-state.js';

/** SGR codes of the few colours used: [start, end]. */
const SGR = {
  green: ['\x1b[32m', '\x1b[39m'],
  red: ['\x1b[31m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
  cyan: ['\x1b[36m', '\x1b[39m'],
  bold: ['\x1b[1m', '\x1b[22m'],
  dim: ['\x1b[2m', '\x1b[22m'],
} as const;

/** A colour (or style) of `SGR`. */
export type Colour = keyof typeof SGR;

/**
 * Each way an attempt ends, coloured by what the user should do about it: nothing (completed, pruned on
 * purpose), look at it (failed, oom, timeout), or resume it (interrupted).
 */
export const STATE_COLOUR: Readonly<Record<AttemptEnd, Colour>> = {
  completed: 'green',
  pruned: 'dim',
  failed: 'red',
  oom: 'red',
  timeout: 'red',
  interrupted: 'yellow',
};

/**
 * Whether to colour output written to `stream`: only on a terminal, and not when `NO_COLOR` is set to
 * anything but the empty string.
 */
export function colourWanted(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '';
}

/** A painter: `text` wrapped in the colour's codes when `enabled`, else `text` unchanged. */
export function painter(enabled: boolean): (colour: Colour, text: string) => string {
  return enabled ? (colour, text) => `${SGR[colour][0]}${text}${SGR[colour][1]}` : (_colour, text) => text;
}
