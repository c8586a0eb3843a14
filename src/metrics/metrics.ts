/** The metrics of one evaluation, as the evaluator reports them and the protocol carries them. */

/** Metric name → value, named `<metric>@<k>` ("ndcg@10", "hr@10", "coverage@10", …). */
export type Metrics = Record<string, number>;
