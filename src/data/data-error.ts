/** Bad input data (as opposed to a bad config value): always names the file and, where known, the line. */
export class DataError extends Error {
  override readonly name: string = 'DataError';
  /** The offending file. */
  readonly file: string;
  /** 1-based line number, where the problem is a line of a text file. */
  readonly line: number | undefined;

  constructor(file: string, message: string, line?: number) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

/** A download that failed (HTTP status, dropped connection): the machine's problem, not the input's. */
export class DownloadError extends DataError {
  override readonly name = 'DownloadError';
}
