/**
 * gBCE's calibration (gSASRec, Petrov & Macdonald, RecSys 2023), once for both backends. gbce is bce+
 * with the positive's probability raised to β: −β·log σ(s⁺) − Σ log σ(−s⁻) over the n negatives, where
 * α = n / (V − 1) is the sampling rate and β = α(t(1 − 1/α) + 1/α) = 1 + t(α − 1). t = 0 gives β = 1
 * (bce+); t = 1 gives β = α, which makes the sigmoid of the model's score estimate the probability
 * under the full catalogue instead of the overconfident one that n of V − 1 negatives teach.
 */

/**
 * The positive's exponent β for calibration `t` in [0, 1], `negatives` n ≥ 1 and a catalogue of `items`
 * V ≥ 2 items. Throws a RangeError naming the bad argument.
 */
export function gbceBeta(t: number, negatives: number, items: number): number {
  if (!(t >= 0 && t <= 1)) throw new RangeError(`gbce: t must be in [0, 1], got ${t}`);
  if (!Number.isInteger(negatives) || negatives < 1) throw new RangeError(`gbce: negatives must be a positive integer, got ${negatives}`);
  if (!Number.isInteger(items) || items < 2) throw new RangeError(`gbce: the catalogue needs at least 2 items, got ${items}`);
  const alpha = negatives / (items - 1);
  return alpha * (t * (1 - 1 / alpha) + 1 / alpha);
}
