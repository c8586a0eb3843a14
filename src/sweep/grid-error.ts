/** A problem in a grid file, located by the file and the key path (or line) of the offending value. */
export class GridFileError extends Error {
  override readonly name = 'GridFileError';
  /** The grid file as the user named it. */
  readonly file: string;
  /** Key path inside the file (`grid.loss[2]`), or `line:column` for syntax errors. */
  readonly path: string;

  constructor(file: string, path: string, message: string) {
    super(`${file}: ${path}: ${message}`);
    this.file = file;
    this.path = path;
  }
}
