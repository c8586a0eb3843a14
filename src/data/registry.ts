/**
 * Registered data sets: where each comes from and how the reference study prepares it
 * (README, "Data"). A registered name gives the defaults of every `dataset.*` key; a config may
 * override any of them.
 */

/** A checksum of a downloaded file, and whether its publisher states it or we measured it. */
export interface Checksum {
  readonly algorithm: 'md5' | 'sha256';
  readonly hex: string;
  /** `published`: stated by the publisher (URL in `source`); `measured`: computed by us from a download. */
  readonly origin: 'published' | 'measured';
  /** Where the published value is stated. */
  readonly source?: string;
}

/** The file ships inside this package. */
export interface EmbeddedSource {
  readonly kind: 'embedded';
  /** Path relative to the package root. */
  readonly file: string;
}

/** A plain HTTP(S) download `grid data fetch` can do by itself. */
export interface HttpSource {
  readonly kind: 'http';
  readonly url: string;
  /** The downloaded file's name in the cache directory. */
  readonly download: string;
  /** A zip archive's member holding the interactions (extracted after verification). */
  readonly member?: string;
  /** Absent where the publisher states none: fetch then prints the sha256 it measured. */
  readonly checksum?: Checksum;
}

/** A file behind a login or in a format we do not convert: the user downloads it, `grid data fetch NAME --from FILE` places it. */
export interface ManualSource {
  readonly kind: 'manual';
  /** The page to download from. */
  readonly page: string;
  /** The file the page provides and the cache expects. */
  readonly download: string;
  /** What to do, shown by `grid data fetch`. */
  readonly instructions: string;
}

export type DatasetSource = EmbeddedSource | HttpSource | ManualSource;

/** Raw `dataset.*` defaults of a registered data set (resolved like user input). */
export interface RegisteredDefaults {
  readonly format: string;
  readonly columns?: { readonly user: string | number; readonly item: string | number; readonly time?: string | number; readonly rating?: string | number; readonly event?: string | number };
  readonly header?: boolean;
  readonly rating_above?: number;
  readonly event_values?: readonly (string | number)[];
  readonly min_item_count?: number;
  readonly min_user_count?: number;
  readonly split?: string;
}

/** Sizes after the default preparation, as the reference tables state them. */
export interface ReferenceSize {
  readonly users: number;
  readonly items: number;
  readonly interactions: number;
}

/** One registered data set. */
export interface RegisteredDataset {
  readonly name: string;
  readonly title: string;
  readonly license: string;
  readonly source: DatasetSource;
  readonly defaults: RegisteredDefaults;
  readonly reference?: ReferenceSize;
}

/** The seed's preparation: one pass of items ≥ 5 then users ≥ 3, its temporal split. */
const SEED_PREP = { min_item_count: 5, min_user_count: 3, split: 'seed' } as const;

const ENTRIES: readonly RegisteredDataset[] = [
  {
    name: 'ml-latest-small',
    title: 'MovieLens latest-small (2018), embedded',
    license: 'GroupLens terms: non-commercial, with acknowledgement (datasets/ml-latest-small/README.txt)',
    source: { kind: 'embedded', file: 'datasets/ml-latest-small/ratings.csv' },
    defaults: {
      format: 'csv',
      columns: { user: 'userId', item: 'movieId', time: 'timestamp', rating: 'rating' },
      min_item_count: 5,
      min_user_count: 3,
      split: 'leave-one-out',
    },
  },
  {
    name: 'movielens-1m',
    title: 'MovieLens 1M',
    license: 'GroupLens terms: no redistribution without permission',
    source: {
      kind: 'http',
      url: 'https://files.grouplens.org/datasets/movielens/ml-1m.zip',
      download: 'ml-1m.zip',
      member: 'ml-1m/ratings.dat',
      checksum: {
        algorithm: 'md5',
        hex: 'c4d9eecfca2ab87c1945afe126590906',
        origin: 'published',
        source: 'https://files.grouplens.org/datasets/movielens/ml-1m.zip.md5',
      },
    },
    // The leave-one-out protocol of the SASRec and BERT4Rec papers, which report ML-1M this way.
    defaults: { format: 'movielens-dat', min_item_count: 5, min_user_count: 3, split: 'leave-one-out' },
  },
  {
    name: 'movielens-20m',
    title: 'MovieLens 20M',
    license: 'GroupLens terms: no redistribution without permission',
    source: {
      kind: 'http',
      url: 'https://files.grouplens.org/datasets/movielens/ml-20m.zip',
      download: 'ml-20m.zip',
      member: 'ml-20m/ratings.csv',
      checksum: {
        algorithm: 'md5',
        hex: 'cd245b17a1ae2cc31bb14903e1204af3',
        origin: 'published',
        source: 'https://files.grouplens.org/datasets/movielens/ml-20m.zip.md5',
      },
    },
    defaults: {
      format: 'csv',
      columns: { user: 'userId', item: 'movieId', time: 'timestamp', rating: 'rating' },
      rating_above: 3,
      ...SEED_PREP,
    },
    reference: { users: 138_078, items: 15_405, interactions: 12_200_000 },
  },
  {
    name: 'beauty',
    title: 'Amazon Reviews 2023, Beauty and Personal Care (5-core, ratings only)',
    license: 'Amazon Reviews 2023 terms (McAuley Lab): research use',
    source: {
      kind: 'http',
      url: 'https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/benchmark/5core/rating_only/Beauty_and_Personal_Care.csv.gz',
      download: 'Beauty_and_Personal_Care.csv.gz',
    },
    defaults: {
      format: 'csv',
      columns: { user: 'user_id', item: 'parent_asin', time: 'timestamp', rating: 'rating' },
      rating_above: 3,
      ...SEED_PREP,
    },
    reference: { users: 673_952, items: 176_450, interactions: 5_000_000 },
  },
  {
    name: 'gowalla',
    title: 'Gowalla check-ins (SNAP)',
    license: 'SNAP: free for research',
    source: {
      kind: 'http',
      url: 'https://snap.stanford.edu/data/loc-gowalla_totalCheckins.txt.gz',
      download: 'loc-gowalla_totalCheckins.txt.gz',
    },
    // Tab-separated, no header: user, check-in time (ISO 8601), latitude, longitude, location id.
    defaults: { format: 'tsv', header: false, columns: { user: 0, item: 4, time: 1 }, ...SEED_PREP },
  },
  {
    name: '30music',
    title: '30Music listening sessions',
    license: '30Music terms (Politecnico di Milano): research use',
    source: {
      kind: 'manual',
      page: 'http://recsys.deib.polimi.it/datasets/',
      download: '30music.csv',
      instructions:
        'The 30Music archive is in Idomaar format, which gridrec does not read: convert its play events to a CSV ' +
        'with columns user_id,track_id,timestamp, then run `grid data fetch 30music --from FILE` (or set dataset.path).',
    },
    defaults: { format: 'csv', columns: { user: 'user_id', item: 'track_id', time: 'timestamp' }, ...SEED_PREP },
  },
  {
    name: 'zvuk',
    title: 'Zvuk listening events (SberZvuk)',
    license: 'Zvuk dataset terms (Kaggle)',
    source: {
      kind: 'manual',
      page: 'https://www.kaggle.com/datasets/alexxl/zvuk-dataset',
      download: 'zvuk-interactions.parquet',
      instructions: 'Kaggle needs an account: download zvuk-interactions.parquet there, then run `grid data fetch zvuk --from FILE` (or set dataset.path).',
    },
    defaults: { format: 'parquet', columns: { user: 'user_id', item: 'track_id', time: 'datetime' }, ...SEED_PREP },
    reference: { users: 370_528, items: 893_022, interactions: 243_000_000 },
  },
  {
    name: 'megamarket',
    title: 'Megamarket e-commerce events (purchases)',
    license: 'Megamarket dataset terms (Kaggle)',
    source: {
      kind: 'manual',
      page: 'https://www.kaggle.com/datasets/alexxl/megamarket',
      download: 'megamarket.parquet',
      instructions: 'Kaggle needs an account: download megamarket.parquet there, then run `grid data fetch megamarket --from FILE` (or set dataset.path).',
    },
    // The seed keeps purchases only (event == 2).
    defaults: {
      format: 'parquet',
      columns: { user: 'user_id', item: 'item_id', time: 'timestamp', event: 'event' },
      event_values: [2],
      ...SEED_PREP,
    },
    reference: { users: 350_267, items: 1_661_327, interactions: 115_000_000 },
  },
];

/** Registered data sets by name. */
export const REGISTRY: ReadonlyMap<string, RegisteredDataset> = new Map(ENTRIES.map((e) => [e.name, e]));

/** The registered names, in registration order. */
export function registeredNames(): string[] {
  return ENTRIES.map((e) => e.name);
}
